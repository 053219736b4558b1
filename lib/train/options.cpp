#include "train/options.hpp"

#include <cmath>

#include "common/error.hpp"
#include "metrics/metrics.hpp"

namespace cxr::train {

TrainOptions read_train_options(const config::Config& c, int world_size) {
  TrainOptions o;
  o.data_dir = c.get_string("data.dir");
  o.run_dir = c.get_string("train.run_dir");
  if (o.data_dir.empty()) throw InputError("no dataset: set data.dir (or --data)");
  if (o.run_dir.empty()) throw InputError("no run directory: set train.run_dir (or --run-dir)");
  o.amp = c.get_string("train.amp");
  o.loss = c.get_string("train.loss");
  o.noisy_target = c.get_string("train.target") == "noisy";
  if (o.noisy_target && o.loss != "mse")
    throw InputError("train.target=noisy learns the mean of the noisy targets only with train.loss=mse (now '" + o.loss +
                     "'); cxr-eval then maps the output back through the noise model (docs/PRIVACY.md)");
  o.schedule = c.get_string("train.schedule");
  o.strategy = c.get_string("train.strategy");
  o.optimizer = c.get_string("train.optimizer");
  o.device = c.get_string("train.device");
  o.epochs = c.get_int("train.epochs");
  o.max_steps = c.get_int("train.max_steps");
  o.batch = c.get_int("train.batch_size");
  o.val_every = c.get_int("train.val_every");
  o.checkpoint_every = c.get_int("train.checkpoint_every");
  o.keep_last = c.get_int("train.keep_last");
  o.log_every = c.get_int("train.log_every");
  o.max_nonfinite = c.get_int("train.max_nonfinite");
  o.prefetch = c.get_int("train.prefetch");
  o.step_epochs = c.get_int("train.step_epochs");
  o.threads = c.get_int("train.threads");
  o.dp_devices = c.get_int("train.dp_devices");
  o.seed = c.get_int("seed");
  o.lr = c.get_float("train.lr");
  if (c.get_string("train.lr_scaling") == "linear")
    o.lr *= static_cast<double>(o.batch * world_size) / static_cast<double>(c.get_int("train.reference_batch"));
  o.momentum = c.get_float("train.momentum");
  o.weight_decay = c.get_float("train.weight_decay");
  o.ssim_weight = c.get_float("train.ssim_weight");
  o.warmup_epochs = c.get_float("train.warmup_epochs");
  o.step_gamma = c.get_float("train.step_gamma");
  o.grad_clip = c.get_float("train.grad_clip");
  o.bucket_mb = c.get_float("train.bucket_mb");
  o.timeout_s = c.get_float("dist.timeout_s");
  o.overlap = c.get_bool("train.overlap");
  o.mpi_progress = c.get_bool("train.mpi_progress");
  o.channels_last = c.get_bool("train.channels_last");
  o.deterministic = c.get_bool("train.deterministic");
  o.model = models::options_from_config(c);
  o.noise = noise::NoiseOptions()
                .mean(c.get_float("noise.mean"))
                .sigma(c.get_float("noise.sigma"))
                .clip(c.get_bool("noise.clip"))
                .mode(c.get_string("noise.mode"))
                .seed(static_cast<std::uint64_t>(o.seed));
  return o;
}

double learning_rate(const TrainOptions& o, double epoch) {
  if (o.warmup_epochs > 0 && epoch < o.warmup_epochs) return o.lr * (epoch + 1e-9) / o.warmup_epochs;
  if (o.schedule == "cosine") {
    const double t = (epoch - o.warmup_epochs) / std::max(1e-9, static_cast<double>(o.epochs) - o.warmup_epochs);
    return 0.5 * o.lr * (1 + std::cos(3.14159265358979323846 * std::min(1.0, t)));
  }
  if (o.schedule == "step") return o.lr * std::pow(o.step_gamma, std::floor(epoch / static_cast<double>(o.step_epochs)));
  return o.lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o, const std::vector<torch::Tensor>& params) {
  if (o.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

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
