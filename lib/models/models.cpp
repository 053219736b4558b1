#include "models/models.hpp"

#include <map>
#include <numeric>

#include "common/error.hpp"
#include "config/config.hpp"
#include "dist/communicator.hpp"

namespace cxr::models {
namespace {

namespace nn = torch::nn;

std::int64_t width_at(const ModelOptions& o, std::int64_t level) { return o.base_width() << level; }

// The norm layer after each convolution.
nn::AnyModule make_norm(const ModelOptions& o, std::int64_t channels) {
  const std::string& n = o.norm();
  if (n == "batch") return nn::AnyModule(nn::BatchNorm2d(channels));
  if (n == "syncbatch") return nn::AnyModule(SyncBatchNorm(channels, o.communicator()));
  if (n == "group") {
    const std::int64_t g = std::gcd(channels, std::max<std::int64_t>(1, o.groups()));
    return nn::AnyModule(nn::GroupNorm(nn::GroupNormOptions(g, channels)));
  }
  if (n == "none") return nn::AnyModule(nn::Identity());
  throw InputError("model.norm: unknown norm '" + n + "' (batch, syncbatch, group, none)");
}

// conv3x3 -> norm -> ReLU -> conv3x3 -> norm -> ReLU. Convolutions carry a bias only when no
// norm layer follows (a norm's shift makes it redundant).
class ConvBlockImpl : public nn::Module {
 public:
  ConvBlockImpl(const ModelOptions& o, std::int64_t in, std::int64_t out) {
    const bool bias = o.norm() == "none";
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(bias)));
    norm1 = make_norm(o, out);
    register_module("norm1", norm1.ptr());
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(bias)));
    norm2 = make_norm(o, out);
    register_module("norm2", norm2.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(norm1.forward(conv1->forward(x)));
    return torch::relu(norm2.forward(conv2->forward(x)));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::AnyModule norm1, norm2;
};
TORCH_MODULE(ConvBlock);

// Pads `x` at the bottom/right to the spatial size of `like` (odd input sizes).
torch::Tensor pad_to(const torch::Tensor& x, const torch::Tensor& like) {
  const auto dh = like.size(2) - x.size(2), dw = like.size(3) - x.size(3);
  if (dh == 0 && dw == 0) return x;
  return torch::constant_pad_nd(x, {0, dw, 0, dh});
}

// A 1x1 convolution from the top level's features to the output image.
nn::Conv2d make_head(const ModelOptions& o) {
  return nn::Conv2d(nn::Conv2dOptions(width_at(o, 0), o.out_channels(), 1));
}

void check_input(const ModelOptions& o, const torch::Tensor& x) {
  const std::int64_t min_size = std::int64_t{1} << o.depth();
  if (x.dim() != 4 || x.size(1) != o.in_channels() || x.size(2) < min_size || x.size(3) < min_size)
    throw std::invalid_argument("model input: expected [N, " + std::to_string(o.in_channels()) + ", H, W] with H, W >= " +
                                std::to_string(min_size) + ", got " + c10::str(x.sizes()));
}

// ---------------------------------------------------------------------------------------------
class UNetImpl : public DenoiserImpl {
 public:
  explicit UNetImpl(const ModelOptions& o) : DenoiserImpl(o) {
    const auto d = o.depth();
    for (std::int64_t i = 0; i <= d; ++i)
      down_.push_back(register_module("down" + std::to_string(i),
                                      ConvBlock(o, i == 0 ? o.in_channels() : width_at(o, i - 1), width_at(o, i))));
    for (std::int64_t i = d - 1; i >= 0; --i) {
      up_.push_back(register_module("upconv" + std::to_string(i),
                                    nn::ConvTranspose2d(nn::ConvTranspose2dOptions(width_at(o, i + 1), width_at(o, i), 2).stride(2))));
      up_block_.push_back(register_module("up" + std::to_string(i), ConvBlock(o, 2 * width_at(o, i), width_at(o, i))));
    }
    head_ = register_module("head", make_head(o));
  }

  torch::Tensor forward(const torch::Tensor& input) override {
    check_input(options_, input);
    std::vector<torch::Tensor> skips;
    torch::Tensor x = input;
    for (std::size_t i = 0; i < down_.size(); ++i) {
      if (i > 0) x = torch::max_pool2d(x, 2);
      x = down_[i]->forward(x);
      skips.push_back(x);
    }
    for (std::size_t k = 0; k < up_.size(); ++k) {
      const torch::Tensor& skip = skips[skips.size() - 2 - k];
      x = up_block_[k]->forward(torch::cat({skip, pad_to(up_[k]->forward(x), skip)}, 1));
    }
    return finish(input, head_->forward(x));
  }

 private:
  std::vector<ConvBlock> down_, up_block_;
  std::vector<nn::ConvTranspose2d> up_;
  nn::Conv2d head_{nullptr};
};

// ---------------------------------------------------------------------------------------------
// Nodes x_i_j: level i (resolution 2^-i), j-th node of that level. x_i_0 is the encoder;
// x_i_j (j >= 1) sees x_i_0 .. x_i_(j-1) and the upsampled x_(i+1)_(j-1).
class UNetPlusPlusImpl : public DenoiserImpl {
 public:
  explicit UNetPlusPlusImpl(const ModelOptions& o) : DenoiserImpl(o) {
    const auto d = o.depth();
    nodes_.resize(static_cast<std::size_t>(d + 1));
    for (std::int64_t j = 0; j <= d; ++j) {
      for (std::int64_t i = 0; i + j <= d; ++i) {
        const std::int64_t in = j == 0 ? (i == 0 ? o.in_channels() : width_at(o, i - 1))
                                       : width_at(o, i) * j + width_at(o, i + 1);
        nodes_[static_cast<std::size_t>(i)].push_back(
            register_module("x_" + std::to_string(i) + "_" + std::to_string(j), ConvBlock(o, in, width_at(o, i))));
      }
    }
    // One head on x_0_depth; with deep supervision one on every x_0_j (unused heads would be
    // parameters without gradients, which gradient all-reduce would wait for forever).
    for (std::int64_t j = o.deep_supervision() ? 1 : d; j <= d; ++j)
      heads_.emplace(static_cast<std::size_t>(j), register_module("head" + std::to_string(j), make_head(o)));
  }

  torch::Tensor forward(const torch::Tensor& input) override { return forward_heads(input).back(); }

  // The outputs of the heads (x_0_depth's; with deep supervision x_0_1 .. x_0_depth).
  std::vector<torch::Tensor> forward_heads(const torch::Tensor& input) override {
    namespace F = torch::nn::functional;
    check_input(options_, input);
    const std::size_t d = nodes_.size() - 1;
    const auto upsample = F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{2.0, 2.0})
                              .mode(torch::kBilinear)
                              .align_corners(true);
    std::vector<std::vector<torch::Tensor>> x(d + 1);
    for (std::size_t i = 0; i <= d; ++i)
      x[i].push_back(nodes_[i][0]->forward(i == 0 ? input : torch::max_pool2d(x[i - 1][0], 2)));
    std::vector<torch::Tensor> outs;
    for (std::size_t j = 1; j <= d; ++j) {
      for (std::size_t i = 0; i + j <= d; ++i) {
        std::vector<torch::Tensor> parts(x[i].begin(), x[i].begin() + static_cast<std::ptrdiff_t>(j));
        parts.push_back(pad_to(F::interpolate(x[i + 1][j - 1], upsample), x[i][0]));
        x[i].push_back(nodes_[i][j]->forward(torch::cat(parts, 1)));
      }
      if (heads_.count(j)) outs.push_back(finish(input, heads_.at(j)->forward(x[0][j])));
    }
    return outs;
  }

 private:
  std::vector<std::vector<ConvBlock>> nodes_;
  std::map<std::size_t, nn::Conv2d> heads_;
};

}  // namespace

torch::Tensor DenoiserImpl::finish(const torch::Tensor& input, const torch::Tensor& head_output) const {
  return options_.residual() ? input - head_output : head_output;
}

void DenoiserImpl::copy_state(const DenoiserImpl& from) {
  torch::NoGradGuard no_grad;
  auto params = named_parameters(true), buffers = named_buffers(true);
  for (const auto& p : from.named_parameters(true)) params[p.key()].copy_(p.value());
  for (const auto& b : from.named_buffers(true)) buffers[b.key()].copy_(b.value());
}

std::shared_ptr<DenoiserImpl> DenoiserImpl::clone_model(const torch::Device& device) const {
  auto copy = make_model(options_);
  copy->copy_state(*this);
  copy->to(device);
  copy->train(is_training());
  return copy;
}

std::shared_ptr<DenoiserImpl> make_model(const ModelOptions& o) {
  if (o.depth() < 1 || o.depth() > 6) throw InputError("model.depth must be in [1, 6]");
  if (o.name() == "unet") return std::make_shared<UNetImpl>(o);
  if (o.name() == "unetpp") return std::make_shared<UNetPlusPlusImpl>(o);
  throw InputError("model.name: unknown model '" + o.name() + "' (unet, unetpp)");
}

ModelOptions options_from_config(const config::Config& c, bool for_inference) {
  const std::string norm = c.get_string("model.norm");
  ModelOptions o = ModelOptions()
                       .name(c.get_string("model.name"))
                       .base_width(c.get_int("model.base_width"))
                       .depth(c.get_int("model.depth"))
                       .norm(for_inference && norm == "syncbatch" ? "batch" : norm)
                       .groups(c.get_int("model.groups"))
                       .residual(c.get_bool("model.residual"))
                       .deep_supervision(c.get_bool("model.deep_supervision"));
  if (o.deep_supervision() && o.name() != "unetpp") throw InputError("model.deep_supervision applies to model.name=unetpp only");
  return o;
}

std::int64_t parameter_count(const torch::nn::Module& module) {
  std::int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Synchronised batch norm's global statistics in two passes (the global mean first, then the sum
// of squared deviations from it): no E[x^2] - E[x]^2 cancellation, so equal to one rank's with
// batch N*B to float rounding. Two all-reduces of C (+1) numbers per layer, whatever the rank
// count. Backward is written out for the combined statistics: the gradient's two per-channel sums
// are all-reduced, the weight and bias gradients stay local (the gradient reducer averages them).
namespace {

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               std::int64_t comm_slot, double momentum, double eps) {
    dist::Communicator* comm = comm_slot >= 0 ? &dist::communicator_in_slot(comm_slot) : nullptr;
    const auto c = x.size(1);
    const auto shape = std::vector<std::int64_t>{1, c, 1, 1};
    const torch::Tensor xf = x.to(torch::kFloat32);  // statistics in fp32, also under autocast
    const auto f64 = xf.options().dtype(torch::kFloat64);
    torch::Tensor sum_count = torch::cat({xf.sum({0, 2, 3}, false, torch::kFloat64), torch::full({1}, static_cast<double>(x.numel() / c), f64)});
    if (comm) comm->all_reduce_sum(sum_count);
    const torch::Tensor count = sum_count.slice(0, c, c + 1);
    const torch::Tensor mean = (sum_count.slice(0, 0, c) / count).to(torch::kFloat32);
    const torch::Tensor centred = xf - mean.view(shape);
    torch::Tensor m2 = centred.square().sum({0, 2, 3}, false, torch::kFloat64);
    if (comm) comm->all_reduce_sum(m2);
    const torch::Tensor invstd = torch::rsqrt(m2 / count + eps).to(torch::kFloat32);
    const torch::Tensor xhat = centred * invstd.view(shape);
    running_mean.mul_(1 - momentum).add_(mean * momentum);
    running_var.mul_(1 - momentum).add_((m2 / (count - 1).clamp_min(1)).to(torch::kFloat32) * momentum);  // unbiased, as nn::BatchNorm2d
    ctx->save_for_backward({xhat, invstd, weight, count});
    ctx->saved_data["comm"] = comm_slot;
    ctx->saved_data["dtype"] = static_cast<std::int64_t>(x.scalar_type());
    return (xhat * weight.view(shape) + bias.view(shape)).to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xhat = saved[0], &invstd = saved[1], &weight = saved[2], &count = saved[3];
    const std::int64_t slot = ctx->saved_data["comm"].toInt();
    const auto c = xhat.size(1);
    const auto shape = std::vector<std::int64_t>{1, c, 1, 1};
    const torch::Tensor g = grads[0].to(torch::kFloat32);
    torch::Tensor sums = torch::cat({g.sum({0, 2, 3}, false, torch::kFloat64), (g * xhat).sum({0, 2, 3}, false, torch::kFloat64)});
    const torch::Tensor grad_bias = sums.slice(0, 0, c).to(torch::kFloat32), grad_weight = sums.slice(0, c, 2 * c).to(torch::kFloat32);
    if (slot >= 0) dist::communicator_in_slot(slot).all_reduce_sum(sums);
    const torch::Tensor mean_g = (sums.slice(0, 0, c) / count).to(torch::kFloat32).view(shape);
    const torch::Tensor mean_g_xhat = (sums.slice(0, c, 2 * c) / count).to(torch::kFloat32).view(shape);
    const torch::Tensor grad_x = (weight * invstd).view(shape) * (g - mean_g - xhat * mean_g_xhat);
    const auto dtype = static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grad_x.to(dtype), grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

SyncBatchNormImpl::SyncBatchNormImpl(std::int64_t channels, std::shared_ptr<dist::Communicator> comm)
    : comm_slot_(comm && comm->size() > 1 ? dist::autograd_slot(comm) : -1) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kInt64));
}

torch::Tensor SyncBatchNormImpl::forward(const torch::Tensor& x) {
  if (!is_training()) return torch::batch_norm(x, weight, bias, running_mean, running_var, false, momentum_, eps_, false);
  {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, comm_slot_, momentum_, eps_);
}

}  // namespace cxr::models
