#include <spng.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "common/files.hpp"
#include "image/image.hpp"

namespace cxr::image {
namespace {

struct ContextDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};
using Context = std::unique_ptr<spng_ctx, ContextDeleter>;

void check(int rc, const char* step) {
  if (rc != 0) throw DecodeError(std::string(step) + ": " + spng_strerror(rc));
}

// Decodes the whole image as `format`, then the chunks after it (a file cut before IEND is broken).
template <typename T>
std::vector<T> decode_as(spng_ctx* ctx, spng_format format) {
  std::size_t len = 0;
  check(spng_decoded_image_size(ctx, format, &len), "decode");
  std::vector<T> out(len / sizeof(T));
  check(spng_decode_image(ctx, out.data(), len, format, 0), "decode");
  check(spng_decode_chunks(ctx), "after the image data");
  return out;
}

std::vector<std::uint8_t> encode(int width, int height, std::uint8_t color_type, const void* pixels, std::size_t len) {
  Context ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw std::runtime_error("spng: out of memory");
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  // 8 bits per sample; compression, filter and interlace method 0 (standard, not interlaced).
  spng_ihdr ihdr{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), 8, color_type,
                 0, 0, 0};
  spng_set_ihdr(ctx.get(), &ihdr);
  int rc = spng_encode_image(ctx.get(), pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (rc != 0) throw std::runtime_error(std::string("PNG encode failed: ") + spng_strerror(rc));
  std::size_t size = 0;
  void* buffer = spng_get_png_buffer(ctx.get(), &size, &rc);
  if (!buffer) throw std::runtime_error(std::string("PNG encode failed: ") + spng_strerror(rc));
  std::vector<std::uint8_t> out(static_cast<std::uint8_t*>(buffer), static_cast<std::uint8_t*>(buffer) + size);
  std::free(buffer);
  return out;
}

}  // namespace

Gray8 decode_png(const std::uint8_t* data, std::size_t size) {
  if (size == 0) throw DecodeError("empty file (0 bytes)");
  // Chunk CRCs are still checked; skipping the zlib Adler-32 only avoids a second checksum pass.
  Context ctx(spng_ctx_new(SPNG_CTX_IGNORE_ADLER32));
  if (!ctx) throw DecodeError("out of memory");
  // Refuse absurd sizes before allocating (a corrupt header must not ask for terabytes).
  spng_set_image_limits(ctx.get(), 1 << 15, 1 << 15);
  spng_set_chunk_limits(ctx.get(), 64u << 20, 256u << 20);
  check(spng_set_png_buffer(ctx.get(), data, size), "not a PNG");
  spng_ihdr ihdr{};
  check(spng_get_ihdr(ctx.get(), &ihdr), "bad PNG header");

  Gray8 out;
  out.width = static_cast<int>(ihdr.width);
  out.height = static_cast<int>(ihdr.height);
  if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth <= 8) {
    // 8-bit gray (the NIH case) and low-bit gray expanded to 0..255.
    out.pixels = decode_as<std::uint8_t>(ctx.get(), SPNG_FMT_G8);
    return out;
  }
  // Everything else through 16-bit RGBA: exact for 8-bit sources (v * 257) and 16-bit ones.
  const auto rgba = decode_as<std::uint16_t>(ctx.get(), SPNG_FMT_RGBA16);
  out.pixels.resize(rgba.size() / 4);
  for (std::size_t i = 0; i < out.pixels.size(); ++i) {
    const std::uint16_t* p = &rgba[4 * i];
    const double y = (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) * 255.0 / 65535.0;
    out.pixels[i] = static_cast<std::uint8_t>(std::lround(std::min(255.0, std::max(0.0, y))));
  }
  return out;
}

Gray8 read_png(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_binary_file(path);
  } catch (const std::exception& e) {
    throw DecodeError(e.what());
  }
  return decode_png(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> encode_png_gray(const Gray8& image) {
  return encode(image.width, image.height, SPNG_COLOR_TYPE_GRAYSCALE, image.pixels.data(), image.pixels.size());
}

std::vector<std::uint8_t> encode_png_rgba(int width, int height, const std::vector<std::uint8_t>& rgba) {
  return encode(width, height, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, rgba.data(), rgba.size());
}

void write_png(const std::string& path, const Gray8& image) {
  const auto bytes = encode_png_gray(image);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace cxr::image
