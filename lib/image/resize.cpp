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

// One output index along one axis: the first input index and the fixed-point weights from there.
struct Taps {
  int first = 0;
  std::vector<std::int32_t> weights;
};

std::vector<Taps> make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(1.0, scale);  // widen the kernel only when shrinking
  const double support = 2.0 * filter_scale;
  std::vector<Taps> taps(static_cast<std::size_t>(out_size));
  std::vector<double> w;
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;  // pixel centres sit at i + 0.5
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(in_size, static_cast<int>(center + support + 0.5));
    w.clear();
    double total = 0.0;
    for (int i = lo; i < hi; ++i) {
      w.push_back(cubic((i - center + 0.5) / filter_scale));
      total += w.back();
    }
    Taps& t = taps[static_cast<std::size_t>(o)];
    t.first = lo;
    for (const double weight : w) {
      const double v = total != 0.0 ? weight / total : 0.0;
      const double fixed = std::trunc(v * (1 << kPrecisionBits) + (v < 0 ? -0.5 : 0.5));  // rounded half away from zero
      t.weights.push_back(static_cast<std::int32_t>(fixed));
    }
  }
  return taps;
}

}  // namespace

Gray8 resize_bicubic(const Gray8& src, int out_width, int out_height) {
  if (out_width <= 0 || out_height <= 0 || src.width <= 0 || src.height <= 0)
    throw std::invalid_argument("resize: sizes must be positive");
  if (out_width == src.width && out_height == src.height) return src;
  const std::vector<Taps> tx = make_taps(src.width, out_width), ty = make_taps(src.height, out_height);
  const auto in_w = static_cast<std::size_t>(src.width), out_w = static_cast<std::size_t>(out_width);
  const std::int64_t half = std::int64_t{1} << (kPrecisionBits - 1);

  // Horizontal pass: every source row to out_width columns.
  std::vector<std::uint8_t> rows(static_cast<std::size_t>(src.height) * out_w);
  for (int y = 0; y < src.height; ++y) {
    const std::uint8_t* in = &src.pixels[static_cast<std::size_t>(y) * in_w];
    std::uint8_t* out = &rows[static_cast<std::size_t>(y) * out_w];
    for (int x = 0; x < out_width; ++x) {
      const Taps& t = tx[static_cast<std::size_t>(x)];
      std::int64_t acc = half;
      for (std::size_t i = 0; i < t.weights.size(); ++i)
        acc += static_cast<std::int64_t>(in[t.first + i]) * t.weights[i];
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
    const Taps& t = ty[static_cast<std::size_t>(y)];
    std::fill(acc.begin(), acc.end(), half);
    for (std::size_t i = 0; i < t.weights.size(); ++i) {
      const std::uint8_t* row = &rows[(static_cast<std::size_t>(t.first) + i) * out_w];
      for (std::size_t x = 0; x < out_w; ++x) acc[x] += static_cast<std::int64_t>(row[x]) * t.weights[i];
    }
    std::uint8_t* out = &dst.pixels[static_cast<std::size_t>(y) * out_w];
    for (std::size_t x = 0; x < out_w; ++x) out[x] = clip8(acc[x]);
  }
  return dst;
}

}  // namespace cxr::image
