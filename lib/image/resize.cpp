#include <algorithm>
#include <cmath>

#include "image/image.hpp"

namespace cxr::image {
namespace {

// Keys' cubic convolution kernel with a = -0.5.
double cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output index along one axis: the first input index and its normalised weights.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<double> weights;  // max_count per output index
  int max_count = 0;
};

Taps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(1.0, scale);  // widen the kernel only when shrinking
  const double support = 2.0 * filter_scale;
  Taps t;
  t.max_count = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(out_size));
  t.count.resize(static_cast<std::size_t>(out_size));
  t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_count), 0.0);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;  // in input pixel units, pixel centres at i + 0.5
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(in_size, static_cast<int>(center + support + 0.5));
    double total = 0.0;
    double* w = &t.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(t.max_count)];
    for (int i = lo; i < hi; ++i) {
      w[i - lo] = cubic((i - center + 0.5) / filter_scale);
      total += w[i - lo];
    }
    for (int i = lo; i < hi; ++i) w[i - lo] = total != 0.0 ? w[i - lo] / total : 0.0;
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

  // Horizontal pass into a float buffer (no intermediate rounding), then vertical.
  std::vector<float> rows(static_cast<std::size_t>(src.height) * static_cast<std::size_t>(out_width));
  for (int y = 0; y < src.height; ++y) {
    const std::uint8_t* in = &src.pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(src.width)];
    float* out = &rows[static_cast<std::size_t>(y) * static_cast<std::size_t>(out_width)];
    for (int x = 0; x < out_width; ++x) {
      const double* w = &tx.weights[static_cast<std::size_t>(x) * static_cast<std::size_t>(tx.max_count)];
      const int first = tx.first[static_cast<std::size_t>(x)], count = tx.count[static_cast<std::size_t>(x)];
      double acc = 0.0;
      for (int k = 0; k < count; ++k) acc += w[k] * in[first + k];
      out[x] = static_cast<float>(acc);
    }
  }
  Gray8 dst;
  dst.width = out_width;
  dst.height = out_height;
  dst.pixels.resize(static_cast<std::size_t>(out_width) * static_cast<std::size_t>(out_height));
  std::vector<double> acc(static_cast<std::size_t>(out_width));
  for (int y = 0; y < out_height; ++y) {
    const double* w = &ty.weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(ty.max_count)];
    const int first = ty.first[static_cast<std::size_t>(y)], count = ty.count[static_cast<std::size_t>(y)];
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int k = 0; k < count; ++k) {
      const float* row = &rows[static_cast<std::size_t>(first + k) * static_cast<std::size_t>(out_width)];
      for (int x = 0; x < out_width; ++x) acc[static_cast<std::size_t>(x)] += w[k] * row[x];
    }
    std::uint8_t* out = &dst.pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(out_width)];
    for (int x = 0; x < out_width; ++x)
      out[x] = static_cast<std::uint8_t>(std::clamp(std::lround(acc[static_cast<std::size_t>(x)]), 0L, 255L));
  }
  return dst;
}

}  // namespace cxr::image
