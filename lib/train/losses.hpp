#pragma once
// Training losses: L1 (the reference), MSE, and L1 + (1 - SSIM) with the standard SSIM
// (metrics::ssim_for_loss: 11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, data range 1).
#include <torch/torch.h>

#include <string>

namespace cxr::train {

// Per-image losses [N] of `kind` ("l1", "mse", "l1_ssim").
torch::Tensor per_image_loss(const std::string& kind, const torch::Tensor& output, const torch::Tensor& target,
                             double ssim_weight);

}  // namespace cxr::train
