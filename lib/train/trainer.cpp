#include "train/trainer.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/error.hpp"
#include "common/log.hpp"
#include "common/files.hpp"
#include "common/progress.hpp"
#include "common/test_hooks.hpp"
#include "config/run_config.hpp"
#include "dist/placement.hpp"
#include "dist/communicator.hpp"
#include "dist/cuda.hpp"
#include "dist/reducer.hpp"
#include "loader/dataset.hpp"
#include "models/models.hpp"
#include "train/amp.hpp"
#include "train/checkpoint.hpp"
#include "train/losses.hpp"

namespace cxr::train {
namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

struct Settings {
  std::string data_dir, run_dir, amp, loss, schedule, strategy, optimizer;
  std::int64_t epochs, max_steps, batch, val_every, checkpoint_every, keep_last, log_every, max_nonfinite, prefetch;
  double lr, momentum, weight_decay, ssim_weight, warmup_epochs, step_gamma, grad_clip, bucket_mb;
  std::int64_t step_epochs;
  bool overlap;
  models::ModelOptions model;
  noise::NoiseOptions noise;
};

Settings read_settings(const config::Config& c, int world_size) {
  Settings s;
  s.data_dir = c.get_string("data.dir");
  s.run_dir = c.get_string("train.run_dir");
  if (s.data_dir.empty()) throw InputError("no dataset: set data.dir (or --data)");
  if (s.run_dir.empty()) throw InputError("no run directory: set train.run_dir (or --run-dir)");
  s.amp = c.get_string("train.amp");
  s.loss = c.get_string("train.loss");
  s.schedule = c.get_string("train.schedule");
  s.strategy = c.get_string("train.strategy");
  s.epochs = c.get_int("train.epochs");
  s.max_steps = c.get_int("train.max_steps");
  s.batch = c.get_int("train.batch_size");
  s.val_every = c.get_int("train.val_every");
  s.checkpoint_every = c.get_int("train.checkpoint_every");
  s.keep_last = c.get_int("train.keep_last");
  s.log_every = c.get_int("train.log_every");
  s.max_nonfinite = c.get_int("train.max_nonfinite");
  s.prefetch = c.get_int("train.prefetch");
  s.lr = c.get_float("train.lr");
  if (c.get_string("train.lr_scaling") == "linear")
    s.lr *= static_cast<double>(s.batch * world_size) / static_cast<double>(c.get_int("train.reference_batch"));
  s.optimizer = c.get_string("train.optimizer");
  s.momentum = c.get_float("train.momentum");
  s.weight_decay = c.get_float("train.weight_decay");
  s.ssim_weight = c.get_float("train.ssim_weight");
  s.warmup_epochs = c.get_float("train.warmup_epochs");
  s.step_epochs = c.get_int("train.step_epochs");
  s.step_gamma = c.get_float("train.step_gamma");
  s.grad_clip = c.get_float("train.grad_clip");
  s.bucket_mb = c.get_float("train.bucket_mb");
  s.overlap = c.get_bool("train.overlap");
  s.model = models::options_from_config(c);
  s.noise = noise::NoiseOptions()
                .mean(c.get_float("noise.mean"))
                .sigma(c.get_float("noise.sigma"))
                .clip(c.get_bool("noise.clip"))
                .mode(c.get_string("noise.mode"))
                .seed(static_cast<std::uint64_t>(c.get_int("seed")));
  return s;
}

// Learning rate at a (fractional) epoch: linear warm-up, then constant, cosine or step.
double learning_rate(const Settings& s, double epoch) {
  if (s.warmup_epochs > 0 && epoch < s.warmup_epochs) return s.lr * (epoch + 1e-9) / s.warmup_epochs;
  if (s.schedule == "cosine") {
    const double t = (epoch - s.warmup_epochs) / std::max(1e-9, static_cast<double>(s.epochs) - s.warmup_epochs);
    return 0.5 * s.lr * (1 + std::cos(3.14159265358979323846 * std::min(1.0, t)));
  }
  if (s.schedule == "step") return s.lr * std::pow(s.step_gamma, std::floor(epoch / static_cast<double>(s.step_epochs)));
  return s.lr;
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// Adam (the reference's), or SGD with momentum: its update is linear in the gradient, which makes
// it the sharper instrument for comparing runs (Adam divides tiny gradients by their own size).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Settings& s, const std::vector<torch::Tensor>& params) {
  if (s.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
}

// Rank 0's parameters and buffers to every rank (at start and after resume; buffers every step
// with batch norm). One broadcast per element type: on GPUs a hundred small collectives a step
// cost more than the one large one.
void broadcast_state(models::DenoiserImpl& model, dist::Communicator& comm, bool buffers_only = false) {
  if (comm.size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  if (!buffers_only)
    for (auto& p : model.parameters()) tensors.push_back(p.detach());
  for (auto& b : model.buffers()) tensors.push_back(b);
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, group] : by_type) {
    std::vector<torch::Tensor> flat;
    for (auto& t : group) flat.push_back(t.reshape({-1}));
    torch::Tensor buffer = torch::cat(flat);
    comm.broadcast(buffer, 0);
    std::int64_t offset = 0;
    for (auto& t : group) {
      t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

// Mean per-image L1 over the whole validation split: each rank its slice, sums all-reduced.
// Without a model: the L1 of the noisy input itself, the floor a denoiser has to beat.
double validate(models::DenoiserImpl* model, const loader::Dataset& val, const Settings& s, dist::Communicator& comm,
                const torch::Device& device) {
  torch::NoGradGuard no_grad;
  if (model) model->eval();
  const auto mine = loader::evaluation_slice(val.size(), comm.rank(), comm.size());
  double sum = 0;
  for (std::size_t first = 0; first < mine.size(); first += static_cast<std::size_t>(s.batch)) {
    const std::vector<std::size_t> idx(mine.begin() + static_cast<std::ptrdiff_t>(first),
                                       mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), first + static_cast<std::size_t>(s.batch))));
    const torch::Tensor clean = val.read_batch(idx);
    std::vector<std::uint64_t> ids;
    for (auto i : idx) ids.push_back(val.id(i));
    // Validation noise is the fixed draw, the same every epoch and for every run.
    const torch::Tensor noisy = noise::obfuscate(clean, ids, 0, noise::NoiseOptions(s.noise).mode("fixed"));
    AutocastGuard autocast(s.amp, device);
    const torch::Tensor out = model ? model->forward(noisy.to(device)).to(torch::kFloat32).cpu() : noisy;
    sum += (out - clean).abs().flatten(1).mean(1).sum().item<double>();
  }
  torch::Tensor totals = torch::tensor({sum, static_cast<double>(mine.size())}, torch::kFloat64);
  comm.all_reduce_sum(totals);
  if (model) model->train();
  return totals[0].item<double>() / totals[1].item<double>();
}

// Test hook: the gradients every rank is about to apply, as float32 in parameter order.
void dump_gradients(const std::vector<torch::Tensor>& params, const std::string& path) {
  std::vector<torch::Tensor> flat;
  for (const auto& p : params) flat.push_back(p.grad().detach().to(torch::kCPU, torch::kFloat32).reshape({-1}));
  const torch::Tensor all = torch::cat(flat).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(all.data_ptr()), static_cast<std::streamsize>(all.numel() * 4));
  if (!out) throw RuntimeError("cannot write " + path);
}

// A number that changes when any buffer (batch-norm running statistics) changes.
double buffer_checksum(const models::DenoiserImpl& model) {
  double sum = 0;
  for (const auto& b : model.buffers()) sum += b.to(torch::kFloat64).abs().sum().item<double>();
  return sum;
}

// One verdict over all gradients with a single device-to-host read.
bool grads_finite(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> sums;
  for (const auto& p : params)
    if (p.grad().defined()) sums.push_back(p.grad().abs().sum().to(torch::kFloat32));
  return sums.empty() || torch::isfinite(torch::stack(sums)).all().item<bool>();
}

// Leaf "a.b" -> value of a YAML config, for comparing the checkpoint's config with this run's.
void flatten(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) flatten(kv.second, prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>(), out);
  } else if (node.IsScalar()) {
    out[prefix] = node.Scalar();
  }
}

// Resuming continues one experiment: the noise, the seed and the per-rank batch must not change
// (they define what is trained and where a mid-epoch position points), and a mid-epoch
// position needs the same rank count. Other changes (more epochs, another lr) are allowed and
// listed. Throws InputError naming the keys.
void check_resumable(const CheckpointContent& c, const config::Config& config, int ranks, const std::string& path, bool root) {
  std::map<std::string, std::string> before, now;
  flatten(YAML::Load(c.config_yaml), "", before);
  flatten(YAML::Load(config.to_yaml()), "", now);
  std::string fixed, changed;
  for (const auto& [key, value] : now) {
    const auto it = before.find(key);
    if (it == before.end() || it->second == value) continue;
    const std::string change = key + " " + it->second + " -> " + value;
    const bool defines_run = key.rfind("noise.", 0) == 0 || key == "seed" || key == "train.batch_size" || key == "train.optimizer";
    (defines_run ? fixed : changed) += (defines_run ? fixed : changed).empty() ? change : ", " + change;
  }
  if (!fixed.empty())
    throw InputError("cannot resume " + path + " with " + fixed +
                     ": these settings define the run. Use a new run directory (train.run_dir) for a new experiment.");
  if (c.state.step_in_epoch > 0 && c.state.ranks != ranks)
    throw InputError("cannot resume " + path + " in the middle of an epoch with " + std::to_string(ranks) + " ranks: it was made with " +
                     std::to_string(c.state.ranks) + " (rerun with that many, or resume from an end-of-epoch checkpoint)");
  if (root && !changed.empty()) log::warn("resuming with changed settings: " + changed);
  if (root && c.state.ranks != ranks)
    log::warn(fmt::format("resuming a {}-rank run with {} ranks: the global batch changes from here on", c.state.ranks, ranks));
}

// The CPU threads of this rank (dist::thread_budget), with the ranks of a node comparing their
// affinity masks; LibTorch's intra-op count is set here. Rank 0 logs one line per node with the
// counts each local rank actually uses. Collective.
dist::ThreadBudget apply_thread_budget(const dist::World& world, std::int64_t configured, bool cuda) {
  const std::string mask = dist::affinity_list();
  const auto masks = world.node_all_gather(mask);
  const auto sharing = static_cast<int>(std::count(masks.begin(), masks.end(), mask));
  const auto budget = dist::all_or_none(world, [&] {
    return dist::thread_budget(static_cast<int>(configured), std::getenv("OMP_NUM_THREADS"), dist::affinity_count(), sharing, cuda,
                               std::getenv("SLURM_CPUS_PER_TASK"));
  });
  torch::set_num_threads(budget.intra_op);
  const auto applied = world.node_all_gather(fmt::format("{}/{}", torch::get_num_threads(), budget.noise));
  std::string per_rank;
  for (const auto& a : applied) per_rank += (per_rank.empty() ? "" : ", ") + a;
  const std::string line =
      fmt::format("{}: {} rank(s); local rank 0 may run on CPUs {} and uses {} ({}); intra-op/noise threads per local rank: {}",
                  world.host(), world.local_size(), mask, budget.cpus, budget.source, per_rank);
  const auto lines = world.gather(world.local_rank() == 0 ? line : std::string());
  for (const auto& l : lines)
    if (!l.empty()) log::info("threads on " + l);
  return budget;
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int run_training(dist::World& world, const config::Config& config) {
  world.set_timeout(config.get_float("dist.timeout_s"));
  const bool root = world.is_root();
  const TestHooks& hooks = test_hooks();
  Settings s = dist::all_or_none(world, [&] { return read_settings(config, world.size()); });

  // Device: one per rank, the one dist::pick_visible_device gives it (one process per GPU);
  // CPU otherwise. Then the CPU threads, from the task's CPU set.
  const torch::Device device = dist::choose_device(config.get_string("train.device"), world, /*one_rank_per_device=*/true);
  const bool cuda = device.is_cuda();
  const int device_index = cuda ? device.index() : -1;
  s.noise.threads(apply_thread_budget(world, config.get_int("train.threads"), cuda).noise);
  if (cuda) {
    // Fixed input sizes: let cuDNN time its kernels once and keep the fastest, unless the run
    // must repeat bit for bit (then only deterministic algorithms, chosen without timing).
    const bool deterministic = config.get_bool("train.deterministic");
    at::globalContext().setBenchmarkCuDNN(!deterministic);
    at::globalContext().setDeterministicCuDNN(deterministic);
  }
  const bool channels_last = cuda && config.get_bool("train.channels_last");
  if (s.strategy != "ddp" && world.size() > 1)
    throw CollectiveError("train.strategy=" + s.strategy + " runs in one process; launch it without mpirun, or use ddp", kExitUsage);
  // dp (the reference's DataParallel): one process, the batch split over several devices, one
  // model replica per device, gradients summed onto the first. On CPU, train.dp_devices replicas
  // stand in for devices (for tests); with a single device it is plain single-device training.
  std::vector<torch::Device> dp_devices;
  if (s.strategy == "dp") {
    const auto n = cuda ? static_cast<int>(torch::cuda::device_count()) : static_cast<int>(config.get_int("train.dp_devices"));
    for (int k = 0; k < std::max(1, n); ++k)
      dp_devices.push_back(cuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(k)) : torch::Device(torch::kCPU));
    if (dp_devices.size() == 1 && root)
      log::warn("train.strategy=dp with one device: one process drives it (the same as 'single')");
  }

  // Gradients (and synchronised batch norm) travel on the device's communicator: NCCL for CUDA
  // tensors, MPI for CPU ones. Host numbers (stop flag, loss, validation sums) always use MPI.
  auto host_comm = dist::make_mpi_communicator(world);
  auto comm = cuda ? dist::make_nccl_communicator(world, device_index) : host_comm;
  models::ModelOptions model_options = s.model;
  model_options.communicator(comm);
  torch::manual_seed(static_cast<std::uint64_t>(config.get_int("seed")));  // rank 0's init is broadcast anyway
  auto model = dist::all_or_none(world, [&] {
    AutocastGuard check(s.amp, device);  // refuses an AMP mode this device cannot run, on every rank alike
    return models::make_model(model_options);
  });
  model->to(device);
  if (channels_last)
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  model->train();
  const auto optimizer_ptr = make_optimizer(s, model->parameters());
  torch::optim::Optimizer& optimizer = *optimizer_ptr;
  LossScaler scaler(s.amp == "fp16");

  // Data: every rank opens it itself (a node that cannot see the path fails here, and the ranks
  // agree on it before anyone waits in a collective).
  std::unique_ptr<loader::Dataset> train_data, val_data;
  dist::all_or_none(world, [&] {
    train_data = std::make_unique<loader::Dataset>(s.data_dir, "train");
    if (s.val_every > 0) val_data = std::make_unique<loader::Dataset>(s.data_dir, "val");
  });
  const loader::DistributedSampler sampler(train_data->size(), static_cast<std::size_t>(s.batch), world.rank(), world.size(),
                                           static_cast<std::uint64_t>(config.get_int("seed")), true);
  const auto steps_per_epoch = static_cast<std::int64_t>(sampler.steps_per_epoch());

  // Resume from `latest`, or start a new run directory (rank 0 decides, everyone loads).
  CheckpointStore store(s.run_dir, static_cast<int>(s.keep_last));
  TrainState state;
  const std::string resume_path = world.broadcast(dist::all_or_none(world, [&] {
    std::optional<std::string> latest;
    if (!root) return std::string();
    latest = store.latest();
    if (!latest) {
      ensure_writable_directory(s.run_dir);
      config::save_run_config(s.run_dir, config);
    }
    return latest.value_or("");
  }));
  if (!resume_path.empty()) {
    dist::all_or_none(world, [&] {
      // The guards first: an optimizer of another kind could not even load its state.
      check_resumable(read_checkpoint(resume_path).content, config, world.size(), resume_path, root);
      const CheckpointContent c = load_checkpoint(resume_path, *model, &optimizer);
      state = c.state;
      scaler.load(c.state.loss_scale, c.state.scale_growth_tracker);
    });
    model->to(device);  // loading copies into the existing (device) tensors; keep them there
    if (root) log::info(fmt::format("resuming from {} (epoch {}, step {} of it, global step {})", resume_path, state.epoch + 1,
                           state.step_in_epoch, state.global_step));
  }
  broadcast_state(*model, *comm);

  std::vector<torch::Tensor> params = model->parameters();
  dist::GradientReducer reducer(params, comm, s.bucket_mb, s.overlap);
  std::vector<std::shared_ptr<models::DenoiserImpl>> replicas;  // dp: devices 1.. (device 0 is `model`)
  for (std::size_t k = 1; k < dp_devices.size(); ++k) replicas.push_back(model->clone_model(dp_devices[k]));
  std::ofstream step_log;
  dist::all_or_none(world, [&] {  // each rank writes its own log: a rank that cannot is a local failure
    const fs::path log_path = fs::path(s.run_dir) / "logs" / fmt::format("rank-{:05d}.jsonl", world.rank());
    fs::create_directories(log_path.parent_path());
    step_log.open(log_path, std::ios::app);
    if (!step_log) throw RuntimeError("cannot write the step log " + log_path.string());
  });

  if (root) {
    log::info(fmt::format("{} ({:.2f} M parameters), norm {}, {} ranks x batch {} = {} per step, {} steps per epoch, lr {:.3g}, amp {}",
                 s.model.name(), static_cast<double>(models::parameter_count(*model)) / 1e6, s.model.norm(), world.size(),
                 s.batch, s.batch * world.size(), steps_per_epoch, s.lr, s.amp));
    log::info(fmt::format("device {} per rank, gradients over {}{}", device.str(), comm->backend(),
                          cuda ? fmt::format(", channels-last {}, cuDNN {}", channels_last ? "on" : "off",
                                             config.get_bool("train.deterministic") ? "deterministic" : "autotuned")
                               : ""));
    log::info(fmt::format("data {}: {} train / {} val images of {}x{}; run dir {}; gradient buckets {} ({} MB, overlap {})", s.data_dir,
                 train_data->size(), val_data ? val_data->size() : 0, train_data->image_size(), train_data->image_size(),
                 s.run_dir, reducer.bucket_count(), s.bucket_mb, s.overlap ? "on" : "off"));
  }

  if (val_data) {
    world.watchdog().set_context("validating the noisy input");
    const double noisy_l1 = validate(nullptr, *val_data, s, *host_comm, device);
    if (root) log::info(fmt::format("validation L1 of the noisy input itself (the floor to beat): {:.5f}", noisy_l1));
    step_log << nlohmann::json({{"event", "baseline"}, {"noisy_val_loss", noisy_l1}}).dump() << "\n";
  }

  // Rank 0 writes; the others wait in the agreement, so no rank runs ahead of a checkpoint it
  // might need, and a failed write (a full disk) ends every rank with rank 0's message.
  auto checkpoint = [&](bool best) {
    world.watchdog().set_context(fmt::format("rank 0 writing the checkpoint of global step {}", state.global_step));
    dist::all_or_none(world, [&] {
      if (!root) return;
      CheckpointContent c{state, s.model.name(), model_signature(s.model), config.to_yaml()};
      c.state.ranks = world.size();
      c.state.loss_scale = scaler.scale();
      c.state.scale_growth_tracker = scaler.growth_tracker();
      const std::string path = store.save(*model, optimizer, c, best);
      log::info(fmt::format("checkpoint {}{}", path, best ? " (new best)" : ""));
    });
  };

  std::int64_t nonfinite_in_a_row = 0;
  bool stop_requested = false;
  const bool limited = s.max_steps > 0;
  while (state.epoch < s.epochs && !(limited && state.global_step >= s.max_steps)) {
    const auto epoch_start = Clock::now();
    std::int64_t last_step = steps_per_epoch;
    if (limited) last_step = std::min(last_step, state.step_in_epoch + (s.max_steps - state.global_step));
    loader::Prefetcher prefetch(*train_data, sampler, s.noise, state.epoch, static_cast<std::size_t>(state.step_in_epoch),
                                static_cast<std::size_t>(last_step), static_cast<std::size_t>(s.prefetch), /*pin_memory=*/cuda);
    Progress progress(fmt::format("epoch {}/{}", state.epoch + 1, s.epochs), steps_per_epoch, root, "steps",
                      static_cast<double>(s.log_every));
    progress.advance(state.step_in_epoch);
    double epoch_loss = 0;
    std::int64_t epoch_steps = 0;

    while (state.step_in_epoch < last_step) {
      world.watchdog().set_context(fmt::format("global step {}, epoch {}", state.global_step + 1, state.epoch + 1));
      const auto t_step = Clock::now();
      loader::Batch batch = prefetch.next();
      if (hooks.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hooks.step_delay_ms));
      if (hooks.stop_at.is(state.global_step + 1, world.rank())) ::raise(SIGSTOP);
      const double data_s = seconds_since(t_step);
      const double lr = learning_rate(s, static_cast<double>(state.epoch) +
                                             static_cast<double>(state.step_in_epoch) / static_cast<double>(steps_per_epoch));
      set_lr(optimizer, lr);

      // Forward and backward.
      const auto t_compute = Clock::now();
      if (s.model.norm() == "batch") broadcast_state(*model, *comm, /*buffers_only=*/true);  // buffers follow rank 0
      optimizer.zero_grad();
      reducer.prepare();
      // Forward and backward of one model on one device over (part of) the batch; the loss is
      // weighted by the part's share so that the parts' gradients sum to the batch gradient.
      auto forward_backward = [&](models::DenoiserImpl& net, const torch::Device& dev, const torch::Tensor& noisy,
                                  const torch::Tensor& clean, double share) {
        torch::Tensor part_loss;
        {
          AutocastGuard autocast(s.amp, dev);
          // Pinned host batches copy asynchronously; the copy is ordered before the forward.
          torch::Tensor input = noisy.to(dev, /*non_blocking=*/true);
          if (channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
          const auto outputs = net.forward_heads(input);
          const torch::Tensor target = clean.to(dev, /*non_blocking=*/true);
          part_loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
          for (const auto& out : outputs) part_loss = part_loss + per_image_loss(s.loss, out, target, s.ssim_weight).mean();
          part_loss = part_loss / static_cast<double>(outputs.size());
          if (hooks.nan_at.is(state.global_step + 1, world.rank())) part_loss = part_loss * std::nan("");
          if (hooks.fail_at.is(state.global_step + 1, world.rank()))
            throw RuntimeError("CXR_TEST_FAIL_AT: injected failure at step " + std::to_string(state.global_step + 1));
        }
        scaler.scale_loss(part_loss * share).backward();
        // Stays on the device: reading it here would make the host wait for the forward pass
        // before it queues the backward one. It is read once, after the optimizer step.
        return part_loss.detach() * share;
      };
      torch::Tensor loss;
      if (replicas.empty()) {
        loss = forward_backward(*model, device, batch.noisy, batch.clean, 1.0);
      } else {
        // dp: replicas take the master's parameters and buffers, each its slice of the batch;
        // their gradients are then summed onto the master.
        {
          torch::NoGradGuard no_grad;
          for (auto& r : replicas) {
            auto src = model->named_parameters(true), dst = r->named_parameters(true);
            for (auto& p : src) dst[p.key()].copy_(p.value());
            auto sb = model->named_buffers(true), db = r->named_buffers(true);
            for (auto& b : sb) db[b.key()].copy_(b.value());
            r->zero_grad();
          }
        }
        const auto parts = static_cast<std::int64_t>(dp_devices.size());
        const auto noisy_parts = batch.noisy.chunk(parts), clean_parts = batch.clean.chunk(parts);
        const double total = static_cast<double>(batch.noisy.size(0));
        loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
        for (std::size_t k = 0; k < noisy_parts.size(); ++k)
          loss = loss + forward_backward(k == 0 ? *model : *replicas[k - 1], dp_devices[k], noisy_parts[k], clean_parts[k],
                                         static_cast<double>(noisy_parts[k].size(0)) / total).to(device);
        torch::NoGradGuard no_grad;
        for (std::size_t k = 1; k < noisy_parts.size(); ++k) {
          auto rp = replicas[k - 1]->parameters();
          for (std::size_t i = 0; i < params.size(); ++i)
            if (rp[i].grad().defined()) params[i].mutable_grad().add_(rp[i].grad().to(device));
        }
      }
      const double compute_s = seconds_since(t_compute);

      // Gradients averaged over ranks, then one verdict for all: step or skip.
      const auto t_comm = Clock::now();
      reducer.finish();
      const double comm_s = seconds_since(t_comm);
      if (root && hooks.dump_grads_step == state.global_step + 1) dump_gradients(params, hooks.dump_grads_file);
      const auto t_optim = Clock::now();
      const bool finite = scaler.enabled() ? scaler.unscale(params) : grads_finite(params);
      if (finite) {
        if (s.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, s.grad_clip);
        optimizer.step();
        nonfinite_in_a_row = 0;
      } else {
        ++nonfinite_in_a_row;
      }
      scaler.update(!finite);
      const double optim_s = seconds_since(t_optim);

      // One small all-reduce: the global loss and whether any rank was asked to stop.
      const double local_loss = loss.item<double>();
      torch::Tensor agree = torch::tensor({local_loss, g_stop_signal.load() != 0 ? 1.0 : 0.0}, torch::kFloat64);
      host_comm->all_reduce_sum(agree);
      const double global_loss = agree[0].item<double>() / world.size();
      stop_requested = agree[1].item<double>() > 0;

      ++state.step_in_epoch;
      ++state.global_step;
      const double step_s = seconds_since(t_step);
      if (finite) {
        epoch_loss += global_loss;
        ++epoch_steps;
      }
      nlohmann::json line = {{"step", state.global_step}, {"epoch", state.epoch + 1}, {"loss", global_loss},
                             {"local_loss", local_loss}, {"lr", lr},
                             {"data_s", data_s}, {"compute_s", compute_s}, {"comm_s", comm_s}, {"optim_s", optim_s},
                             {"step_s", step_s}, {"images_per_s", static_cast<double>(s.batch * world.size()) / step_s},
                             {"loader_s", batch.read_seconds}, {"skipped", !finite}, {"loss_scale", scaler.scale()},
                             {"max_rss_mb", max_rss_mb()},
                             {"peak_gpu_mb", cuda ? dist::cuda_peak_memory_mb(device_index) : 0.0}};
      step_log << line.dump() << "\n";
      progress.set_note(fmt::format("loss {:.5f}, {:.1f} img/s", global_loss, line["images_per_s"].get<double>()));
      progress.advance();
      if (nonfinite_in_a_row >= s.max_nonfinite) {
        step_log.flush();
        throw CollectiveError(fmt::format("{} non-finite steps in a row (last loss {}): stopping. Lower train.lr or use "
                                          "another train.amp; the last good checkpoint is in {}",
                                          nonfinite_in_a_row, global_loss, store.dir()),
                              kExitFailure);
      }
      if (stop_requested) break;
    }
    progress.finish();
    step_log.flush();

    if (stop_requested) {
      if (root) log::warn(fmt::format("stop requested (signal): checkpointing at global step {} and exiting for requeue", state.global_step));
      checkpoint(false);
      return kExitRequeue;
    }
    if (state.step_in_epoch < steps_per_epoch) {  // max_steps reached mid-epoch
      checkpoint(false);
      break;
    }
    // End of epoch: validate, checkpoint. Per-rank batch norm leaves each rank with buffers
    // updated by its own last batch: take rank 0's, as the next forward would.
    if (s.model.norm() == "batch") broadcast_state(*model, *comm, /*buffers_only=*/true);
    const double epoch_s = seconds_since(epoch_start);
    ++state.epoch;
    state.step_in_epoch = 0;
    bool best = false;
    if (val_data && state.epoch % s.val_every == 0) {
      world.watchdog().set_context(fmt::format("validation after epoch {}", state.epoch));
      state.last_val_loss = validate(model.get(), *val_data, s, *host_comm, device);
      best = state.last_val_loss < state.best_val_loss;
      if (best) state.best_val_loss = state.last_val_loss;
    }
    const nlohmann::json e = {{"event", "epoch"}, {"epoch", state.epoch}, {"train_loss", epoch_steps ? epoch_loss / epoch_steps : NAN},
                              {"val_loss", state.last_val_loss}, {"epoch_s", epoch_s}, {"global_step", state.global_step},
                              {"buffer_checksum", buffer_checksum(*model)}};
    step_log << e.dump() << "\n";
    step_log.flush();
    if (root)
      log::info(fmt::format("epoch {}/{}: train loss {:.5f}, {}{}, {:.1f} s", state.epoch, s.epochs,
                   epoch_steps ? epoch_loss / epoch_steps : NAN,
                   state.last_val_loss >= 0 ? fmt::format("val L1 {:.5f}", state.last_val_loss) : std::string("no validation"),
                   best ? " (best)" : "", epoch_s));
    if (state.epoch % s.checkpoint_every == 0 || state.epoch == s.epochs || best) checkpoint(best);
  }
  if (root)
    log::info(fmt::format("training done: {} steps; {}; run dir {}", state.global_step,
                          state.best_val_loss < 1e29 ? fmt::format("best val L1 {:.5f}", state.best_val_loss) : std::string("no validation"),
                          s.run_dir));
  return kExitOk;
}

}  // namespace cxr::train
