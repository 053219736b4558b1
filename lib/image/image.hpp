#pragma once
// 8-bit gray images, PNG in and out (libspng), and antialiased resizing.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cxr::image {

struct Gray8 {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // row-major, width * height
};

// A PNG that cannot be decoded; what() is the per-file reason reported to the user.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Decodes any PNG to 8-bit gray: 8-bit gray as is; 1/2/4-bit gray expanded; RGB, RGBA and
// palette images to luminance with ITU-R 601-2 weights (0.299 R + 0.587 G + 0.114 B, as PIL's
// convert("L")), alpha ignored; 16-bit samples scaled to 8 bits with rounding.
// Throws DecodeError for a zero-byte, truncated, non-PNG or otherwise broken file.
Gray8 decode_png(const std::uint8_t* data, std::size_t size);
Gray8 read_png(const std::string& path);  // DecodeError also when the file cannot be read

// Encodes 8-bit gray, or RGBA when `rgba` holds 4 * width * height bytes.
std::vector<std::uint8_t> encode_png_gray(const Gray8& image);
std::vector<std::uint8_t> encode_png_rgba(int width, int height, const std::vector<std::uint8_t>& rgba);
void write_png(const std::string& path, const Gray8& image);  // atomically (temp + rename)

// Resizes with a bicubic kernel (a = -0.5) widened by the scale factor when shrinking, so every
// source pixel contributes (antialiasing; the same scheme as PIL's Image.resize(BICUBIC), which
// the reference study used). Output is rounded and clamped to [0, 255].
Gray8 resize_bicubic(const Gray8& src, int out_width, int out_height);

}  // namespace cxr::image
