#include "train/losses.hpp"

#include "common/error.hpp"
#include "metrics/metrics.hpp"

namespace cxr::train {

torch::Tensor per_image_loss(const std::string& kind, const torch::Tensor& output, const torch::Tensor& target,
                             double ssim_weight) {
  const torch::Tensor out = output.to(torch::kFloat32);
  if (kind == "mse") return (out - target).pow(2).flatten(1).mean(1);
  const torch::Tensor l1 = (out - target).abs().flatten(1).mean(1);
  if (kind == "l1") return l1;
  if (kind == "l1_ssim") return (1 - ssim_weight) * l1 + ssim_weight * (1 - metrics::ssim_for_loss(out, target));
  throw InputError("train.loss: unknown loss '" + kind + "'");
}

}  // namespace cxr::train
