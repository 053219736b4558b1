#pragma once
// Denoising networks: U-Net (Ronneberger et al., MICCAI 2015) and U-Net++ (Zhou et al., DLMIA
// 2018), as the reference study built them at base width 64 (31.0 M and 36.6 M parameters), with
// width, depth and normalisation configurable.
//
//   auto net = cxr::models::make_model(cxr::models::ModelOptions().name("unet").base_width(16));
//   torch::Tensor y = net->forward(x);   // x, y: [N, 1, H, W]; H and W any size >= 2^depth
//
// Blocks: two 3x3 convolutions, each followed by the norm layer and ReLU. U-Net downsamples with
// 2x2 max-pooling and upsamples with 2x2 transposed convolutions; U-Net++ upsamples bilinearly
// (align_corners) and concatenates every earlier node of a level (dense skips, nodes x_i_j).
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace cxr::dist {
class Communicator;
}
namespace cxr::config {
class Config;
}

namespace cxr::models {

struct ModelOptions {
  TORCH_ARG(std::string, name) = "unet";     // "unet" or "unetpp"
  TORCH_ARG(std::int64_t, in_channels) = 1;
  TORCH_ARG(std::int64_t, out_channels) = 1;
  TORCH_ARG(std::int64_t, base_width) = 64;  // widths base * 2^level
  TORCH_ARG(std::int64_t, depth) = 4;        // number of 2x downsamplings
  TORCH_ARG(std::string, norm) = "batch";    // batch | syncbatch | group | none
  TORCH_ARG(std::int64_t, groups) = 8;       // group norm: groups per layer (at most the channels)
  TORCH_ARG(bool, residual) = false;         // predict the noise: output = input - net(input)
  TORCH_ARG(bool, deep_supervision) = false; // U-Net++: train every head x_0_j (j = 1..depth)
  // syncbatch: where batch statistics are all-reduced; nullptr = this process alone.
  TORCH_ARG(std::shared_ptr<dist::Communicator>, communicator) = nullptr;
};

// What the trainer and evaluator see of any model.
class DenoiserImpl : public torch::nn::Module {
 public:
  explicit DenoiserImpl(ModelOptions options) : options_(std::move(options)) {}
  // The denoised image, same shape as the input.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Every output the loss should see: one for U-Net; with deep supervision, U-Net++'s heads.
  virtual std::vector<torch::Tensor> forward_heads(const torch::Tensor& x) { return {forward(x)}; }
  // A deep copy: same options, parameters and buffers (for one process driving several devices).
  std::shared_ptr<DenoiserImpl> clone_model(const torch::Device& device) const;
  // Copies `from`'s parameters and buffers into this model (same options; any devices).
  void copy_state(const DenoiserImpl& from);
  const ModelOptions& options() const { return options_; }

 protected:
  torch::Tensor finish(const torch::Tensor& input, const torch::Tensor& head_output) const;
  ModelOptions options_;
};

std::shared_ptr<DenoiserImpl> make_model(const ModelOptions& options);

// The model.* keys of a configuration. `for_inference`: synchronised batch norm becomes plain
// batch norm (the same parameters and buffers; no communicator outside training).
ModelOptions options_from_config(const config::Config& config, bool for_inference = false);

std::int64_t parameter_count(const torch::nn::Module& module);

// Batch norm whose statistics are those of the global batch over all ranks (for small per-device
// batches): N ranks with batch B normalise as one rank with batch N*B. Without a communicator,
// or with one rank, it is ordinary batch norm computed the same way.
class SyncBatchNormImpl : public torch::nn::Module {
 public:
  SyncBatchNormImpl(std::int64_t channels, std::shared_ptr<dist::Communicator> comm);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  std::int64_t comm_slot_;  // dist::autograd_slot of the communicator, -1 for none
  double momentum_ = 0.1, eps_ = 1e-5;
};
TORCH_MODULE(SyncBatchNorm);

}  // namespace cxr::models
