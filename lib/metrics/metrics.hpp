#pragma once
// Image-quality metrics per image, on [N, 1, H, W] float tensors in [0, 1] (MONAI's habit:
// per-image values first, reduced last).
//
//   psnr      10 log10(1 / MSE), data range 1, output clamped to [0, 1] first
//   ssim      the standard definition (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5,
//             K1 0.01, K2 0.03, population covariance, mean over the valid region; equal to
//             skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
//             use_sample_covariance=False, data_range=1)
//   ssim_3x3  the reference study's variant, a 3x3 uniform window with sample covariance
//             (skimage's structural_similarity(win_size=3, data_range=1)); only for lining our
//             numbers up with its table, not comparable with the literature
#include <torch/torch.h>

namespace cxr::metrics {

torch::Tensor psnr(const torch::Tensor& output, const torch::Tensor& target);      // [N]
torch::Tensor ssim(const torch::Tensor& output, const torch::Tensor& target);      // [N]
torch::Tensor ssim_3x3(const torch::Tensor& output, const torch::Tensor& target);  // [N]
// The standard SSIM for a training loss: differentiable, in fp32, the output not clamped.
torch::Tensor ssim_for_loss(const torch::Tensor& output, const torch::Tensor& target);  // [N]

// Classical baselines, so every table has its floor. Both subtract the known noise mean first
// (the obfuscation adds N(mean, sigma)), then filter, then clamp to [0, 1].
torch::Tensor gaussian_filter(const torch::Tensor& noisy, double blur_sigma, double noise_mean);
torch::Tensor median_filter(const torch::Tensor& noisy, int kernel, double noise_mean);

}  // namespace cxr::metrics
