#include "metrics/metrics.hpp"

#include <cmath>

namespace cxr::metrics {
namespace {

torch::Tensor gaussian_kernel_1d(double sigma, int radius) {
  std::vector<float> w(static_cast<std::size_t>(2 * radius + 1));
  double total = 0;
  for (int i = -radius; i <= radius; ++i) total += (w[static_cast<std::size_t>(i + radius)] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma))));
  for (auto& v : w) v = static_cast<float>(v / total);
  return torch::tensor(w, torch::kFloat32);
}

// Mean SSIM per image over the valid region with window `w` ([1, 1, k, k]), in x's precision.
torch::Tensor ssim_per_image(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& window, double cov_norm) {
  const torch::Tensor w = window.to(x.options());
  auto f = [&](const torch::Tensor& t) { return torch::conv2d(t, w); };
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const torch::Tensor ux = f(x), uy = f(y);
  const torch::Tensor vx = cov_norm * (f(x * x) - ux * ux), vy = cov_norm * (f(y * y) - uy * uy),
                      vxy = cov_norm * (f(x * y) - ux * uy);
  const torch::Tensor s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  return s.flatten(1).mean(1);
}

torch::Tensor gaussian_window() {
  const torch::Tensor g = gaussian_kernel_1d(1.5, 5);  // skimage: truncate 3.5 -> radius 5, 11 taps
  return torch::outer(g, g).view({1, 1, 11, 11});
}

// Evaluation: fp64, the output clamped to the data range first.
torch::Tensor ssim_evaluated(const torch::Tensor& output, const torch::Tensor& target, const torch::Tensor& window, double cov_norm) {
  return ssim_per_image(output.to(torch::kFloat64).clamp(0, 1), target.to(torch::kFloat64), window, cov_norm).to(torch::kFloat32);
}

}  // namespace

torch::Tensor psnr(const torch::Tensor& output, const torch::Tensor& target) {
  const torch::Tensor mse = (output.to(torch::kFloat64).clamp(0, 1) - target.to(torch::kFloat64)).pow(2).flatten(1).mean(1);
  return (10.0 * torch::log10(1.0 / mse.clamp_min(1e-20))).to(torch::kFloat32);
}

torch::Tensor ssim(const torch::Tensor& output, const torch::Tensor& target) {
  return ssim_evaluated(output, target, gaussian_window(), 1.0);
}

torch::Tensor ssim_3x3(const torch::Tensor& output, const torch::Tensor& target) {
  return ssim_evaluated(output, target, torch::full({1, 1, 3, 3}, 1.0 / 9.0), 9.0 / 8.0);
}

torch::Tensor ssim_for_loss(const torch::Tensor& output, const torch::Tensor& target) {
  return ssim_per_image(output.to(torch::kFloat32), target.to(torch::kFloat32), gaussian_window(), 1.0);
}

torch::Tensor gaussian_filter(const torch::Tensor& noisy, double blur_sigma, double noise_mean) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3.0 * blur_sigma)));
  const torch::Tensor g = gaussian_kernel_1d(blur_sigma, radius).to(noisy.options());
  const torch::Tensor x = torch::reflection_pad2d(noisy - noise_mean, {radius, radius, radius, radius});
  const torch::Tensor h = torch::conv2d(x, g.view({1, 1, 1, -1}));
  return torch::conv2d(h, g.view({1, 1, -1, 1})).clamp(0, 1);
}

torch::Tensor median_filter(const torch::Tensor& noisy, int kernel, double noise_mean) {
  const int r = kernel / 2;
  const torch::Tensor x = torch::reflection_pad2d(noisy - noise_mean, {r, r, r, r});
  // [N, 1, H, W] -> windows [N, 1, H, W, k*k] -> median
  const torch::Tensor windows = x.unfold(2, kernel, 1).unfold(3, kernel, 1).flatten(4);
  return std::get<0>(windows.median(-1)).clamp(0, 1);
}

}  // namespace cxr::metrics
