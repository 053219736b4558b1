#pragma once
// The train.* settings as cxr-train uses them: read once from the config (every key is declared,
// with its meaning, in lib/config/schema.cpp), plus what follows from them (the learning rate at
// a point of the run, the optimizer, the loss).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "config/config.hpp"
#include "models/models.hpp"
#include "noise/noise.hpp"

namespace cxr::train {

struct TrainOptions {
  std::string data_dir, run_dir, amp, loss, schedule, strategy, optimizer, device;
  bool noisy_target = false;  // train.target=noisy: Noise2Noise
  std::int64_t epochs, max_steps, batch, val_every, checkpoint_every, keep_last, log_every, max_nonfinite, prefetch;
  std::int64_t step_epochs, threads, dp_devices, seed;
  double lr, momentum, weight_decay, ssim_weight, warmup_epochs, step_gamma, grad_clip, bucket_mb, timeout_s;
  bool overlap, mpi_progress, channels_last, deterministic;
  models::ModelOptions model;
  noise::NoiseOptions noise;
};

// InputError when data.dir or train.run_dir is missing. `world_size` scales the learning rate
// when train.lr_scaling is linear.
TrainOptions read_train_options(const config::Config& config, int world_size);

// The learning rate at a (fractional) epoch: linear warm-up, then constant, cosine or step.
double learning_rate(const TrainOptions& o, double epoch);

// Adam (the reference's), or SGD with momentum: its update is linear in the gradient, which makes
// it the sharper instrument for comparing runs (Adam divides tiny gradients by their own size).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o, const std::vector<torch::Tensor>& params);

// Per-image losses [N] of `kind` (train.loss): "l1" (the reference), "mse", or "l1_ssim", L1 +
// (1 - SSIM) with the standard SSIM (metrics::ssim_for_loss: 11x11 Gaussian, sigma 1.5, K1 0.01,
// K2 0.03, data range 1).
torch::Tensor per_image_loss(const std::string& kind, const torch::Tensor& output, const torch::Tensor& target,
                             double ssim_weight);

}  // namespace cxr::train
