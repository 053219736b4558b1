#include "train/amp.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "common/error.hpp"

namespace cxr::train {

// The autocast state API: LibTorch 1.13 has per-backend setters (set_enabled for CUDA,
// set_cpu_enabled), 2.x takes a device type. Everything version-specific is in this block.
namespace {
#if TORCH_VERSION_MAJOR >= 2
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_autocast(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
at::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_dtype(bool cuda, at::ScalarType t) { at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t); }
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_autocast(bool cuda, bool on) { cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on); }
at::ScalarType autocast_dtype(bool cuda) { return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype(); }
void set_autocast_dtype(bool cuda, at::ScalarType t) {
  cuda ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif
}  // namespace

AutocastGuard::AutocastGuard(const std::string& amp, const torch::Device& device) {
  if (amp == "off") return;
  if (amp != "fp16" && amp != "bf16") throw InputError("train.amp: expected off, fp16 or bf16, got '" + amp + "'");
  cuda_ = device.is_cuda();
  if (amp == "fp16" && !cuda_) throw InputError("train.amp=fp16 needs a CUDA device; on CPU use bf16");
  prev_enabled_ = autocast_enabled(cuda_);
  prev_dtype_ = autocast_dtype(cuda_);
  set_autocast_dtype(cuda_, amp == "fp16" ? at::kHalf : at::kBFloat16);
  set_autocast(cuda_, true);
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  set_autocast(cuda_, prev_enabled_);
  set_autocast_dtype(cuda_, prev_dtype_);
  at::autocast::clear_cache();
}

LossScaler::LossScaler(bool enabled, LossScalerOptions options)
    : enabled_(enabled), options_(options), scale_(enabled ? options.init_scale() : 1.0) {}

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return true;
  const auto device = grads.front().device();
  torch::Tensor found_inf = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(device));
  const torch::Tensor inv_scale = torch::full({1}, 1.0 / scale_, torch::TensorOptions().dtype(torch::kFloat).device(device));
  if (device.is_cuda()) {
    // LibTorch's fused kernel: unscale every gradient and flag inf/NaN in one pass.
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
  } else {
    // The same on CPU, where LibTorch 1.13 has no kernel for it.
    for (auto& g : grads) {
      g.mul_(inv_scale);
      if (!torch::isfinite(g).all().item<bool>()) found_inf.fill_(1.0);
    }
  }
  return found_inf.item<float>() == 0.0f;
}

void LossScaler::update(bool found_inf) {
  if (!enabled_) return;
  // The rule of at::_amp_update_scale_, on host numbers: every rank holds the same scale.
  if (found_inf) {
    scale_ *= options_.backoff_factor();
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == options_.growth_interval()) {
    scale_ *= options_.growth_factor();
    growth_tracker_ = 0;
  }
}

}  // namespace cxr::train
