#include "train/losses.hpp"

#include <cmath>

#include "common/error.hpp"

namespace cxr::train {
namespace {

torch::Tensor gaussian_window(const torch::TensorOptions& options) {
  std::vector<float> g(11);
  double total = 0;
  for (int i = 0; i < 11; ++i) total += (g[static_cast<std::size_t>(i)] = static_cast<float>(std::exp(-((i - 5) * (i - 5)) / (2 * 1.5 * 1.5))));
  for (auto& v : g) v = static_cast<float>(v / total);
  const torch::Tensor w = torch::tensor(g, torch::kFloat32);
  return torch::outer(w, w).view({1, 1, 11, 11}).to(options);
}

torch::Tensor ssim_map(const torch::Tensor& x, const torch::Tensor& y) {
  const torch::Tensor w = gaussian_window(x.options());
  auto blur = [&](const torch::Tensor& t) { return torch::conv2d(t, w); };
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const torch::Tensor mx = blur(x), my = blur(y);
  const torch::Tensor sxx = blur(x * x) - mx * mx, syy = blur(y * y) - my * my, sxy = blur(x * y) - mx * my;
  return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
}

}  // namespace

torch::Tensor ssim(const torch::Tensor& x, const torch::Tensor& y) { return ssim_map(x.to(torch::kFloat32), y.to(torch::kFloat32)).mean(); }

torch::Tensor per_image_loss(const std::string& kind, const torch::Tensor& output, const torch::Tensor& target,
                             double ssim_weight) {
  const torch::Tensor out = output.to(torch::kFloat32);
  if (kind == "l1") return (out - target).abs().flatten(1).mean(1);
  if (kind == "mse") return (out - target).pow(2).flatten(1).mean(1);
  if (kind == "l1_ssim") {
    const torch::Tensor l1 = (out - target).abs().flatten(1).mean(1);
    const torch::Tensor s = ssim_map(out, target).flatten(1).mean(1);
    return (1 - ssim_weight) * l1 + ssim_weight * (1 - s);
  }
  throw InputError("train.loss: unknown loss '" + kind + "'");
}

}  // namespace cxr::train
