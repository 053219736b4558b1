#include <algorithm>
#include <cmath>
#include <cstdint>

#include "image/image.hpp"

// PIL's scheme (image.hpp) to the bit: separable passes, weights normalised and rounded to 22-bit
// fixed point, each pass rounded and clipped to 8 bits. Doing it the same way gives the same pixels
// as the reference, not merely similar ones.
namespace cxr::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// Keys' cubic convolution kernel with a = -0.5.
double cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

std::uint8_t clip8(std::int64_t v) {
  if (v >= (std::int64_t{1} << (kPrecisionBits + 8))) return 255;
  if (v <= 0) return 0;
  return static_cast<std::uint8_t>(v >> kPrecisionBits);
}

// For each output index along one axis: the first input index, the tap count, fixed-point weights.
struct Taps {
  std::vector<int> first, count;
  std::vector<std::int32_t> weights;  // max_count per output index
  int max_count = 0;
  const std::int32_t* at(int o) const { return &weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(max_count)]; }
};

Taps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(1.0, scale);  // widen the kernel only when shrinking
  const double support = 2.0 * filter_scale;
  Taps t;
  t.max_count = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_count), 0);
  std::vector<double> w(static_cast<std::size_t>(t.max_count));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;  // pixel centres sit at i + 0.5
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(in_size, static_cast<int>(center + support + 0.5));
    double total = 0.0;
    for (int i = lo; i < hi; ++i) total += (w[static_cast<std::size_t>(i - lo)] = cubic((i - center + 0.5) / filter_scale));
    std::int32_t* k = &t.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(t.max_count)];
    for (int i = lo; i < hi; ++i) {
      const double v = total != 0.0 ? w[static_cast<std::size_t>(i - lo)] / total : 0.0;
      k[i - lo] = static_cast<std::int32_t>(std::trunc(v * (1 << kPrecisionBits) + (v < 0 ? -0.5 : 0.5)));
    }
    t.first[static_cast<std::size_t>(o)] = lo;
    t.count[static_cast<std::size_t>(o)] = hi - lo;
  }
  return t;
}

}  // namespace

Gray8 resize_bicubic(const Gray8& src, int out_width, int out_height) {
  if (out_width <= 0 || out_height <= 0 || src.width <= 0 || src.height <= 0)
    throw std::invalid_argument("resize: sizes must be positive");
  if (out_width == src.width && out_height == src.height) return src;
  const Taps tx = make_taps(src.width, out_width);
  const Taps ty = make_taps(src.height, out_height);
  const auto in_w = static_cast<std::size_t>(src.width), out_w = static_cast<std::size_t>(out_width);
  const std::int64_t half = std::int64_t{1} << (kPrecisionBits - 1);

  // Horizontal pass: every source row to out_width columns.
  std::vector<std::uint8_t> rows(static_cast<std::size_t>(src.height) * out_w);
  for (int y = 0; y < src.height; ++y) {
    const std::uint8_t* in = &src.pixels[static_cast<std::size_t>(y) * in_w];
    std::uint8_t* out = &rows[static_cast<std::size_t>(y) * out_w];
    for (int x = 0; x < out_width; ++x) {
      const std::int32_t* k = tx.at(x);
      const int first = tx.first[static_cast<std::size_t>(x)], count = tx.count[static_cast<std::size_t>(x)];
      std::int64_t acc = half;
      for (int i = 0; i < count; ++i) acc += static_cast<std::int64_t>(in[first + i]) * k[i];
      out[x] = clip8(acc);
    }
  }
  // Vertical pass.
  Gray8 dst;
  dst.width = out_width;
  dst.height = out_height;
  dst.pixels.resize(out_w * static_cast<std::size_t>(out_height));
  std::vector<std::int64_t> acc(out_w);
  for (int y = 0; y < out_height; ++y) {
    const std::int32_t* k = ty.at(y);
    const int first = ty.first[static_cast<std::size_t>(y)], count = ty.count[static_cast<std::size_t>(y)];
    std::fill(acc.begin(), acc.end(), half);
    for (int i = 0; i < count; ++i) {
      const std::uint8_t* row = &rows[static_cast<std::size_t>(first + i) * out_w];
      for (std::size_t x = 0; x < out_w; ++x) acc[x] += static_cast<std::int64_t>(row[x]) * k[i];
    }
    std::uint8_t* out = &dst.pixels[static_cast<std::size_t>(y) * out_w];
    for (std::size_t x = 0; x < out_w; ++x) out[x] = clip8(acc[x]);
  }
  return dst;
}

}  // namespace cxr::image
