#pragma once
// The obfuscation: noisy = clamp(clean + N(mean, sigma), 0, 1), as the reference study applied it
// before images leave a hospital (mean 0.1, sigma 0.1 / 0.2 / 0.3).
//
// Each image's noise is drawn from (seed, image id[, epoch]) by a counter-based generator, so it
// does not depend on rank count, batch composition or thread timing. "fixed" draws once per image
// for the whole run (the reference); "resample" draws anew every epoch.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "random/keyed.hpp"

namespace cxr::noise {

struct NoiseOptions {
  TORCH_ARG(double, mean) = 0.1;
  TORCH_ARG(double, sigma) = 0.1;
  TORCH_ARG(bool, clip) = true;
  TORCH_ARG(std::string, mode) = "fixed";  // fixed | resample
  TORCH_ARG(std::uint64_t, seed) = 0;
  TORCH_ARG(int, threads) = 0;  // threads drawing a batch's noise (0: LibTorch's intra-op count)
  TORCH_ARG(rng::Purpose, purpose) = rng::Purpose::Noise;  // keys the draws with the seed and the image
};

// Noisy copies of `clean` [N, 1, H, W] (float, CPU), one per id.
torch::Tensor obfuscate(const torch::Tensor& clean, const std::vector<std::uint64_t>& ids, std::int64_t epoch,
                        const NoiseOptions& options);

// Noise2Noise's bias. A model trained (with an L2 loss) to predict another noisy copy learns
// E[clamp(x + n, 0, 1)] with n ~ N(mean, sigma), not x: the noise has a mean and the clamp is
// one-sided near 0 and 1. expected_noisy is that function of x, in closed form; it increases
// with x, so unbias() inverts it on a model's output (a table of 4,097 points, interpolated).
double expected_noisy(double x, double mean, double sigma);
torch::Tensor unbias(const torch::Tensor& output, double mean, double sigma);

}  // namespace cxr::noise
