#include <doctest/doctest.h>
#include <spng.h>

#include <array>
#include <cstring>
#include <memory>

#include "image/image.hpp"

using namespace cxr;

namespace {
// Encodes raw samples with any colour type and bit depth (libspng), plus a palette if given.
std::vector<std::uint8_t> encode(int w, int h, std::uint8_t color, std::uint8_t depth, const std::vector<std::uint8_t>& raw,
                                 const std::vector<std::array<std::uint8_t, 3>>& palette = {}) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(SPNG_CTX_ENCODER), spng_ctx_free);
  spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = static_cast<std::uint32_t>(w);
  ihdr.height = static_cast<std::uint32_t>(h);
  ihdr.color_type = color;
  ihdr.bit_depth = depth;
  spng_set_ihdr(ctx.get(), &ihdr);
  if (!palette.empty()) {
    spng_plte plte{};
    plte.n_entries = static_cast<std::uint32_t>(palette.size());
    for (std::size_t i = 0; i < palette.size(); ++i) {
      plte.entries[i].red = palette[i][0];
      plte.entries[i].green = palette[i][1];
      plte.entries[i].blue = palette[i][2];
    }
    spng_set_plte(ctx.get(), &plte);
  }
  const int rc = spng_encode_image(ctx.get(), raw.data(), raw.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  REQUIRE_MESSAGE(rc == 0, spng_strerror(rc));
  std::size_t size = 0;
  int err = 0;
  auto* buf = static_cast<std::uint8_t*>(spng_get_png_buffer(ctx.get(), &size, &err));
  std::vector<std::uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

image::Gray8 decode(const std::vector<std::uint8_t>& png) { return image::decode_png(png.data(), png.size()); }
}  // namespace

TEST_SUITE("png") {
  TEST_CASE("8-bit gray decodes as is, and our encoder round-trips it") {
    image::Gray8 g;
    g.width = 5;
    g.height = 3;
    for (int i = 0; i < 15; ++i) g.pixels.push_back(static_cast<std::uint8_t>(i * 17));
    const auto back = decode(image::encode_png_gray(g));
    CHECK(back.width == 5);
    CHECK(back.height == 3);
    CHECK(back.pixels == g.pixels);
  }

  TEST_CASE("RGB and RGBA become ITU-R 601-2 luminance, alpha ignored") {
    // (R, G, B) = (200, 100, 50): 0.299*200 + 0.587*100 + 0.114*50 = 124.2 -> 124
    const auto rgba = decode(encode(1, 1, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, {200, 100, 50, 0}));
    CHECK(rgba.pixels == std::vector<std::uint8_t>{124});
    const auto rgb = decode(encode(2, 1, SPNG_COLOR_TYPE_TRUECOLOR, 8, {255, 255, 255, 0, 0, 255}));
    CHECK(rgb.pixels == std::vector<std::uint8_t>{255, 29});  // 0.114 * 255 = 29.07
    // Gray replicated to RGBA (as in the NIH files) gives the gray value back exactly.
    std::vector<std::uint8_t> raw;
    for (int v = 0; v < 256; ++v) raw.insert(raw.end(), {std::uint8_t(v), std::uint8_t(v), std::uint8_t(v), 255});
    const auto rep = decode(encode(256, 1, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, raw));
    for (int v = 0; v < 256; ++v) CHECK(rep.pixels[static_cast<std::size_t>(v)] == v);
  }

  TEST_CASE("16-bit gray is scaled to 8 bits with rounding") {
    // libspng's encoder takes 16-bit samples in host byte order: 0, 65535, 128 * 257, 3 * 257 + 100.
    const std::uint16_t samples[4] = {0, 65535, 32896, 871};
    std::vector<std::uint8_t> raw(8);
    std::memcpy(raw.data(), samples, 8);
    const auto g = decode(encode(4, 1, SPNG_COLOR_TYPE_GRAYSCALE, 16, raw));
    CHECK(int(g.pixels[0]) == 0);
    CHECK(int(g.pixels[1]) == 255);
    CHECK(int(g.pixels[2]) == 128);
    CHECK(int(g.pixels[3]) == 3);
  }

  TEST_CASE("palette images are expanded, low bit depths scaled") {
    const auto p = decode(encode(3, 1, SPNG_COLOR_TYPE_INDEXED, 8, {0, 1, 2}, {{0, 0, 0}, {255, 255, 255}, {10, 20, 30}}));
    CHECK(p.pixels == std::vector<std::uint8_t>{0, 255, 18});  // 0.299*10 + 0.587*20 + 0.114*30 = 18.2
    // 1-bit gray: 0b10100000 -> 255, 0, 255, 0
    const auto b = decode(encode(4, 1, SPNG_COLOR_TYPE_GRAYSCALE, 1, {0xA0}));
    CHECK(b.pixels == std::vector<std::uint8_t>{255, 0, 255, 0});
  }

  TEST_CASE("broken files raise DecodeError with a reason, never crash") {
    image::Gray8 g;
    g.width = g.height = 64;
    g.pixels.assign(64 * 64, 100);
    for (std::size_t i = 0; i < g.pixels.size(); i += 7) g.pixels[i] = static_cast<std::uint8_t>(i);
    const auto good = image::encode_png_gray(g);

    CHECK_THROWS_WITH_AS(image::decode_png(good.data(), 0), "empty file (0 bytes)", image::DecodeError);
    const std::string text = "this is not a PNG file at all";
    CHECK_THROWS_AS(image::decode_png(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), image::DecodeError);
    for (std::size_t cut : {std::size_t(8), std::size_t(30), good.size() / 2, good.size() - 13}) {
      CAPTURE(cut);
      CHECK_THROWS_AS(image::decode_png(good.data(), cut), image::DecodeError);
    }
    auto flipped = good;
    flipped[flipped.size() / 2] ^= 0xFF;  // breaks the IDAT CRC
    CHECK_THROWS_AS(image::decode_png(flipped.data(), flipped.size()), image::DecodeError);
    CHECK_THROWS_AS(image::read_png("/nonexistent/x.png"), image::DecodeError);
  }
}
