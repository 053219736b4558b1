#pragma once
// Mixed precision: an autocast guard that hides the API change between LibTorch 1.13 and 2.x,
// and dynamic loss scaling for fp16 (LibTorch's C++ API has no GradScaler).
#include <torch/torch.h>

#include <string>
#include <vector>

namespace cxr::train {

// Enables autocast to `dtype` on `device` for its lifetime ("off": does nothing). fp16 needs
// CUDA; bf16 works on CPU and CUDA.
class AutocastGuard {
 public:
  AutocastGuard(const std::string& amp, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

// Dynamic loss scaling (as torch.cuda.amp.GradScaler): the loss is multiplied by `scale` before
// backward; unscale() divides the gradients back and reports whether any is inf/NaN; update()
// halves the scale after a bad step (which is skipped) and doubles it after `growth_interval`
// good steps in a row. Gradients must be all-reduced before unscale(), so every rank sees the
// same verdict and skips together.
struct LossScalerOptions {
  TORCH_ARG(double, init_scale) = 65536.0;
  TORCH_ARG(double, growth_factor) = 2.0;
  TORCH_ARG(double, backoff_factor) = 0.5;
  TORCH_ARG(std::int64_t, growth_interval) = 2000;
};

class LossScaler {
 public:
  explicit LossScaler(bool enabled, LossScalerOptions options = {});
  bool enabled() const { return enabled_; }
  torch::Tensor scale_loss(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Divides gradients by the scale in place; returns true if all are finite.
  bool unscale(const std::vector<torch::Tensor>& params);
  void update(bool found_inf);
  double scale() const { return scale_; }
  std::int64_t growth_tracker() const { return growth_tracker_; }
  void load(double scale, std::int64_t growth_tracker) {
    scale_ = scale;
    growth_tracker_ = growth_tracker;
  }

 private:
  bool enabled_;
  LossScalerOptions options_;
  double scale_;
  std::int64_t growth_tracker_ = 0;
};

}  // namespace cxr::train
