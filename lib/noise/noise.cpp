#include "noise/noise.hpp"

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "common/parallel.hpp"

namespace cxr::noise {

double expected_noisy(double x, double mean, double sigma) {
  // Y = x + n ~ N(m, sigma): E[clamp(Y, 0, 1)] = E[Y; 0 < Y < 1] + P(Y > 1).
  const double m = x + mean, a = (0 - m) / sigma, b = (1 - m) / sigma;
  auto cdf = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  auto pdf = [](double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); };
  return m * (cdf(b) - cdf(a)) + sigma * (pdf(a) - pdf(b)) + (1 - cdf(b));
}

torch::Tensor unbias(const torch::Tensor& output, double mean, double sigma) {
  constexpr int kPoints = 4097;
  std::vector<double> g(kPoints);
  for (int i = 0; i < kPoints; ++i) g[static_cast<std::size_t>(i)] = expected_noisy(static_cast<double>(i) / (kPoints - 1), mean, sigma);
  const torch::Tensor in = output.to(torch::kCPU, torch::kFloat32).contiguous();
  torch::Tensor out = torch::empty_like(in);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (std::int64_t k = 0; k < in.numel(); ++k) {
    const double y = src[k];
    const auto hi = std::lower_bound(g.begin(), g.end(), y);  // g increases
    if (hi == g.begin()) dst[k] = 0.0f;  // below E[clamp(0 + n)]: the darkest a clean pixel can be
    else if (hi == g.end()) dst[k] = 1.0f;
    else {
      const auto i = static_cast<double>(hi - g.begin());
      const double w = (y - *(hi - 1)) / (*hi - *(hi - 1));
      dst[k] = static_cast<float>((i - 1 + w) / (kPoints - 1));
    }
  }
  return out.to(output.device());
}

torch::Tensor obfuscate(const torch::Tensor& clean, const std::vector<std::uint64_t>& ids, std::int64_t epoch,
                        const NoiseOptions& o) {
  if (clean.dim() != 4 || clean.size(0) != static_cast<std::int64_t>(ids.size()) || clean.scalar_type() != torch::kFloat32 ||
      !clean.device().is_cpu())
    throw std::invalid_argument("obfuscate: expected a float CPU tensor [N, C, H, W] with one id per image");
  if (o.mode() != "fixed" && o.mode() != "resample") throw InputError("noise.mode: expected fixed or resample");
  const torch::Tensor in = clean.contiguous();
  torch::Tensor out = torch::empty_like(in);
  const std::int64_t per_image = in[0].numel();
  const std::uint64_t draw = o.mode() == "fixed" ? 0 : static_cast<std::uint64_t>(epoch) + 1;
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // Images in parallel (o.threads(), by default LibTorch's intra-op count): each image has its
  // own keyed stream, so the result does not depend on the thread count. A GPU step at 256x256
  // needs this; one thread draws the noise of about 800 images/s.
  const double mean = o.mean(), sigma = o.sigma();
  const bool clip = o.clip();
  parallel_for_each(ids.size(), o.threads() > 0 ? o.threads() : torch::get_num_threads(), [&](std::size_t n) {
    rng::KeyedStream stream(o.seed(), o.purpose(), ids[n], draw);
    const std::int64_t base = static_cast<std::int64_t>(n) * per_image;
    for (std::int64_t i = 0; i < per_image; ++i) {
      double v = src[base + i] + mean + sigma * stream.normal();
      if (clip) v = std::min(1.0, std::max(0.0, v));
      dst[base + i] = static_cast<float>(v);
    }
  });
  return out;
}

}  // namespace cxr::noise
