#include "train/trainer.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "common/test_hooks.hpp"
#include "config/run_config.hpp"
#include "device/device.hpp"
#include "device/placement.hpp"
#include "dist/communicator.hpp"
#include "dist/gradient_reducer.hpp"
#include "dist/timeline.hpp"
#include "loader/dataset.hpp"
#include "shards/manifest.hpp"
#include "rundir/step_log.hpp"
#include "models/models.hpp"
#include "train/amp.hpp"
#include "train/checkpoint.hpp"
#include "train/data_parallel.hpp"
#include "train/options.hpp"

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

// Everything one rank sets up once and the training loop then uses.
struct Training {
  Training(dist::World& w, const config::Config& c) : world(w), config(c), hooks(test_hooks()) {}
  dist::World& world;
  const config::Config& config;
  const TestHooks& hooks;
  TrainOptions o;
  torch::Device device{torch::kCPU};
  std::shared_ptr<dist::Communicator> host_comm, comm;  // host numbers; gradients (MPI or NCCL)
  std::shared_ptr<models::DenoiserImpl> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<LossScaler> scaler;
  std::unique_ptr<DataParallel> replicas;
  std::unique_ptr<dist::Timeline> timeline;         // the step's clock (host or CUDA events); outlives the reducer, which marks it
  std::optional<dist::Timeline::Mark> forward_done;  // this step's end of forward
  std::unique_ptr<dist::GradientReducer> reducer;
  std::vector<torch::Tensor> params;
  std::unique_ptr<loader::Dataset> train_data, val_data;
  std::unique_ptr<loader::DistributedSampler> sampler;
  std::int64_t steps_per_epoch = 0;
  std::unique_ptr<CheckpointStore> store;
  TrainState state;
  std::ofstream step_log;
  std::int64_t nonfinite_in_a_row = 0;
  int ranks_sharing_cpus = 1;  // ranks of this node with this rank's affinity mask
};

// Rank 0's parameters and buffers to every rank (buffers only: every step with batch norm), one
// broadcast per element type: on GPUs a hundred small collectives cost more than one large one.
void broadcast_state(models::DenoiserImpl& model, dist::Communicator& comm, bool buffers_only = false) {
  if (comm.size() == 1) return;
  torch::NoGradGuard no_grad;
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  if (!buffers_only)
    for (auto& p : model.parameters()) by_type[p.scalar_type()].push_back(p.detach());
  for (auto& b : model.buffers()) by_type[b.scalar_type()].push_back(b);
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
double validate(Training& t, models::DenoiserImpl* model) {
  torch::NoGradGuard no_grad;
  if (model) model->eval();
  const loader::Dataset& val = *t.val_data;
  const auto mine = loader::evaluation_slice(val.size(), t.world.rank(), t.world.size());
  const auto batch = static_cast<std::size_t>(t.o.batch);
  double sum = 0;
  for (std::size_t first = 0; first < mine.size(); first += batch) {
    const std::vector<std::size_t> idx(mine.begin() + static_cast<std::ptrdiff_t>(first),
                                       mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), first + batch)));
    // Validation noise is the fixed draw, the same every epoch and for every run; Noise2Noise
    // validates against the other noisy copies (no clean image needed).
    const auto fixed = noise::NoiseOptions(t.o.noise).mode("fixed");
    const loader::Batch b = t.o.noisy_target ? loader::read_noisy_pair(val, idx, fixed, 0) : loader::read_noisy_batch(val, idx, fixed, 0);
    AutocastGuard autocast(t.o.amp, t.device);
    const torch::Tensor out = model ? model->forward(b.noisy.to(t.device)).to(torch::kFloat32).cpu() : b.noisy;
    sum += (out - b.target).abs().flatten(1).mean(1).sum().item<double>();
  }
  torch::Tensor totals = torch::tensor({sum, static_cast<double>(mine.size())}, torch::kFloat64);
  t.host_comm->all_reduce_sum(totals);
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

// The CPU threads of this rank (device::thread_budget; sets LibTorch's intra-op count), the ranks of
// a node comparing affinity masks. Rank 0 logs each node's counts per local rank. Collective.
device::ThreadBudget apply_thread_budget(const dist::World& world, std::int64_t configured, bool cuda, int& sharing) {
  const std::string mask = device::affinity_list();
  const auto masks = world.node_all_gather(mask);
  sharing = static_cast<int>(std::count(masks.begin(), masks.end(), mask));
  const auto budget = dist::all_or_none(world, [&] {
    return device::thread_budget(static_cast<int>(configured), std::getenv("OMP_NUM_THREADS"), device::affinity_count(), sharing,
                                 cuda, std::getenv("SLURM_CPUS_PER_TASK"));
  });
  torch::set_num_threads(budget.intra_op);
  const auto applied = world.node_all_gather(fmt::format("{}/{}", torch::get_num_threads(), budget.noise));
  const std::string line =
      fmt::format("{}: {} rank(s); local rank 0 may run on CPUs {} and uses {} ({}); intra-op/noise threads per local rank: {}",
                  world.host(), world.local_size(), mask, budget.cpus, budget.source, fmt::join(applied, ", "));
  for (const auto& l : world.gather(world.local_rank() == 0 ? line : std::string()))
    if (!l.empty()) log::info("threads on " + l);
  return budget;
}

// ---- set-up ------------------------------------------------------------------------------------

// The device (one per rank: device::choose_device; dp: every visible one), the CPU threads, cuDNN.
void set_up_devices(Training& t) {
  t.device = device::choose_device(t.o.device, t.world, /*one_rank_per_device=*/true);
  const bool cuda = t.device.is_cuda();
  t.o.noise.threads(apply_thread_budget(t.world, t.o.threads, cuda, t.ranks_sharing_cpus).noise);
  if (cuda) {
    // Fixed input sizes: let cuDNN time its kernels once and keep the fastest, unless the run
    // must repeat bit for bit (then only deterministic algorithms, chosen without timing).
    at::globalContext().setBenchmarkCuDNN(!t.o.deterministic);
    at::globalContext().setDeterministicCuDNN(t.o.deterministic);
  }
  t.o.channels_last = cuda && t.o.channels_last;  // channels-last pays on GPUs only
  if (t.o.strategy != "ddp" && t.world.size() > 1)
    throw CollectiveError("train.strategy=" + t.o.strategy + " runs in one process; launch it without mpirun, or use ddp", kExitUsage);
}

// The communicators, the model (rank 0's initial weights are broadcast later), the optimizer.
void build_model(Training& t) {
  // Gradients (and synchronised batch norm) travel on the device's communicator: NCCL for CUDA
  // tensors, MPI for CPU ones. Host numbers (stop flag, loss, validation sums) always use MPI.
  t.host_comm = dist::make_mpi_communicator(t.world);
  t.comm = t.device.is_cuda() ? dist::make_nccl_communicator(t.world, t.device.index()) : t.host_comm;
  const auto model_options = models::ModelOptions(t.o.model).communicator(t.comm);
  torch::manual_seed(static_cast<std::uint64_t>(t.o.seed));
  t.model = dist::all_or_none(t.world, [&] {
    AutocastGuard check(t.o.amp, t.device);  // refuses an AMP mode this device cannot run, on every rank alike
    return models::make_model(model_options);
  });
  t.model->to(t.device);
  if (t.o.channels_last)
    for (auto& p : t.model->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  t.model->train();
  t.optimizer = make_optimizer(t.o, t.model->parameters());
  t.scaler = std::make_unique<LossScaler>(t.o.amp == "fp16");
  std::vector<torch::Device> devices = {t.device};
  if (t.o.strategy == "dp") {
    const auto n = t.device.is_cuda() ? static_cast<int>(torch::cuda::device_count()) : static_cast<int>(t.o.dp_devices);
    for (int k = 1; k < n; ++k)
      devices.push_back(t.device.is_cuda() ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(k)) : t.device);
    if (devices.size() == 1 && t.world.is_root())
      log::warn("train.strategy=dp with one device: one process drives it (the same as 'single')");
  }
  t.replicas = std::make_unique<DataParallel>(t.model, devices);
}

// Every rank opens the data itself (a node that cannot see the path fails here, and the ranks
// agree on it before anyone waits in a collective).
void open_data(Training& t) {
  dist::all_or_none(t.world, [&] {
    t.train_data = std::make_unique<loader::Dataset>(t.o.data_dir, "train");
    if (t.o.val_every > 0) t.val_data = std::make_unique<loader::Dataset>(t.o.data_dir, "val");
    if (t.train_data->noisy_copies() > 0 && !t.o.noisy_target)
      throw InputError(t.o.data_dir + " is an obfuscated export (" + std::to_string(t.train_data->noisy_copies()) +
                       " noisy copies per image, no clean pixels): supervised training needs clean targets. Train on it "
                       "with train.target=noisy train.loss=mse (Noise2Noise), or preprocess without --obfuscate");
    if (t.train_data->noisy_copies() == 1 && t.o.noisy_target)
      throw InputError(t.o.data_dir + " holds one noisy copy per image; Noise2Noise needs two (cxr-preprocess --obfuscate 2)");
    if (t.train_data->noisy_copies() > 0) {
      // cxr-eval undoes the Noise2Noise bias with the run's noise: it must be the export's.
      const shards::Manifest manifest = shards::read_manifest(t.o.data_dir);
      const auto& noise = manifest.details.at("obfuscation").at("noise");
      const double mean = noise.at("mean").get<double>(), sigma = noise.at("sigma").get<double>();
      if (std::abs(mean - t.o.noise.mean()) > 1e-9 || std::abs(sigma - t.o.noise.sigma()) > 1e-9)
        throw InputError(fmt::format("{} was obfuscated with noise mean {} sigma {}, the run's noise is mean {} sigma {}: the bias "
                                     "correction would be wrong; set noise.mean={} noise.sigma={}", t.o.data_dir, mean, sigma,
                                     t.o.noise.mean(), t.o.noise.sigma(), mean, sigma));
    }
  });
  t.sampler = std::make_unique<loader::DistributedSampler>(t.train_data->size(), static_cast<std::size_t>(t.o.batch), t.world.rank(),
                                                          t.world.size(), static_cast<std::uint64_t>(t.o.seed));
  t.steps_per_epoch = static_cast<std::int64_t>(t.sampler->steps_per_epoch());
}

// Resume from `latest` (rank 0 finds it, every rank loads it) or start a new run directory; then
// every rank takes rank 0's parameters, the gradient buckets are laid out, the step log opened.
void resume_or_start(Training& t) {
  t.store = std::make_unique<CheckpointStore>(t.o.run_dir, static_cast<int>(t.o.keep_last));
  const std::string resume_path = t.world.broadcast(dist::all_or_none(t.world, [&] {
    if (!t.world.is_root()) return std::string();
    const std::optional<std::string> latest = t.store->latest();
    if (!latest) {
      ensure_writable_directory(t.o.run_dir);
      config::save_run_config(t.o.run_dir, t.config);
    }
    return latest.value_or("");
  }));
  if (!resume_path.empty()) {
    dist::all_or_none(t.world, [&] {
      // The guards first: an optimizer of another kind could not even load its state.
      check_resumable(read_checkpoint(resume_path).content, t.config, t.world.size(), resume_path, t.world.is_root());
      const CheckpointContent c = load_checkpoint(resume_path, *t.model, t.optimizer.get());
      t.state = c.state;
      t.scaler->load(c.state.loss_scale, c.state.scale_growth_tracker);
    });
    t.model->to(t.device);  // loading copies into the existing (device) tensors; keep them there
    if (t.world.is_root())
      log::info(fmt::format("resuming from {} (epoch {}, step {} of it, global step {})", resume_path, t.state.epoch + 1,
                            t.state.step_in_epoch, t.state.global_step));
  }
  broadcast_state(*t.model, *t.comm);
  t.params = t.model->parameters();
  t.reducer = std::make_unique<dist::GradientReducer>(t.params, t.comm, t.o.bucket_mb, t.o.overlap, t.o.mpi_progress);
  t.timeline = t.comm->make_timeline();
  dist::all_or_none(t.world, [&] {  // each rank appends to its own step log
    const fs::path log_path = rundir::step_log_path(t.o.run_dir, t.world.rank());
    fs::create_directories(log_path.parent_path());
    t.step_log.open(log_path, std::ios::app);
    if (!t.step_log) throw RuntimeError("cannot write the step log " + log_path.string());
  });
  rundir::SetupRecord setup{t.world.size(), torch::get_num_threads(), device::affinity_count(), t.ranks_sharing_cpus, {}};
  for (auto numel : t.reducer->bucket_numels()) setup.bucket_bytes.push_back(static_cast<double>(numel * t.params.front().element_size()));
  t.step_log << rundir::to_line(setup) << "\n";
}

void log_set_up(const Training& t) {
  if (!t.world.is_root()) return;
  const auto& o = t.o;
  log::info(fmt::format("{} ({:.2f} M parameters), norm {}, {} ranks x batch {} = {} per step, {} steps per epoch, lr {:.3g}, amp {}",
                        o.model.name(), static_cast<double>(models::parameter_count(*t.model)) / 1e6, o.model.norm(),
                        t.world.size(), o.batch, o.batch * t.world.size(), t.steps_per_epoch, o.lr, o.amp));
  log::info(fmt::format("device {} per rank, gradients over {}{}", t.device.str(), t.comm->backend(),
                        t.device.is_cuda() ? fmt::format(", channels-last {}, cuDNN {}", t.o.channels_last ? "on" : "off",
                                                         o.deterministic ? "deterministic" : "autotuned")
                                           : ""));
  log::info(fmt::format("data {}: {} train / {} val images of {}x{}; run dir {}; gradient buckets {} ({} MB, overlap {})", o.data_dir,
                        t.train_data->size(), t.val_data ? t.val_data->size() : 0, t.train_data->image_size(),
                        t.train_data->image_size(), o.run_dir, t.reducer->bucket_count(), o.bucket_mb, o.overlap ? "on" : "off"));
}

// Rank 0 writes; the others wait in the agreement, so no rank runs ahead of a checkpoint it
// might need, and a failed write (a full disk) ends every rank with rank 0's message.
void save_checkpoint(Training& t, bool best) {
  t.world.watchdog().set_context(fmt::format("rank 0 writing the checkpoint of global step {}", t.state.global_step));
  dist::all_or_none(t.world, [&] {
    if (!t.world.is_root()) return;
    CheckpointContent c{t.state, t.o.model.name(), model_signature(t.o.model), t.config.to_yaml()};
    c.state.ranks = t.world.size();
    c.state.loss_scale = t.scaler->scale();
    c.state.scale_growth_tracker = t.scaler->growth_tracker();
    const std::string path = t.store->save(*t.model, *t.optimizer, c, best);
    log::info(fmt::format("checkpoint {}{}", path, best ? " (new best)" : ""));
  });
}

// ---- the training step ---------------------------------------------------------------------------

// Forward, loss and backward of one model on one device over (part of) the batch, the loss weighted
// by the part's share so that the parts' gradients sum to the batch's. The loss stays on the device
// (reading it would make the host wait for the forward pass); it is read after the optimizer step.
torch::Tensor forward_backward(Training& t, models::DenoiserImpl& net, const torch::Device& dev, const torch::Tensor& noisy,
                               const torch::Tensor& target_batch, double share) {
  const std::int64_t step = t.state.global_step + 1;
  torch::Tensor loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
  {
    AutocastGuard autocast(t.o.amp, dev);
    torch::Tensor input = noisy.to(dev, /*non_blocking=*/true);  // pinned host batches copy asynchronously
    if (t.o.channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor target = target_batch.to(dev, /*non_blocking=*/true);  // clean, or Noise2Noise's other copy
    const auto outputs = net.forward_heads(input);  // U-Net++ deep supervision: every head's loss
    for (const auto& out : outputs) loss = loss + per_image_loss(t.o.loss, out, target, t.o.ssim_weight).mean();
    loss = loss / static_cast<double>(outputs.size());
    if (!t.forward_done) t.forward_done = t.timeline->mark();
    if (t.hooks.nan_at.is(step, t.world.rank())) loss = loss * std::nan("");
    if (t.hooks.fail_at.is(step, t.world.rank())) throw RuntimeError("CXR_TEST_FAIL_AT: injected failure at step " + std::to_string(step));
  }
  t.scaler->scale_loss(loss * share).backward();
  return loss.detach() * share;
}

// One optimizer step on one batch: forward, loss, backward (gradient buckets all-reduced as
// they fill), the all-reduce's end, the non-finite check, the optimizer; then the ranks agree on
// the logged loss and on stopping. Every rank takes every branch together: the gradients (and
// so the skip verdict) are the same everywhere after the all-reduce. The phases are timed on the
// device's clock and read after the loss read, the step's one host synchronisation.
rundir::StepRecord train_step(Training& t, const loader::Batch& batch, double lr, bool& stop_requested) {
  rundir::StepRecord r;
  r.lr = lr;
  for (auto& group : t.optimizer->param_groups()) group.options().set_lr(lr);
  dist::Timeline& clock = *t.timeline;
  clock.start();
  t.forward_done.reset();
  if (t.o.model.norm() == "batch") broadcast_state(*t.model, *t.comm, /*buffers_only=*/true);  // buffers follow rank 0
  t.optimizer->zero_grad();
  t.reducer->prepare(&clock);
  const torch::Tensor loss = t.replicas->forward_backward(batch.noisy, batch.target, [&](auto& net, auto& dev, auto& noisy, auto& target, double share) {
    return forward_backward(t, net, dev, noisy, target, share);
  });
  const auto backward_done = clock.mark();

  t.reducer->finish();  // every rank's .grad now holds the average over ranks
  const auto reduced = clock.mark();
  if (t.world.is_root() && t.hooks.dump_grads_step == t.state.global_step + 1) dump_gradients(t.params, t.hooks.dump_grads_file);

  r.skipped = !(t.scaler->enabled() ? t.scaler->unscale(t.params) : grads_finite(t.params));
  if (!r.skipped) {
    if (t.o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(t.params, t.o.grad_clip);
    t.optimizer->step();
  }
  t.scaler->update(r.skipped);
  const auto optimized = clock.mark();

  // One small all-reduce: the global loss and whether any rank was asked to stop.
  r.local_loss = loss.item<double>();
  torch::Tensor agree = torch::tensor({r.local_loss, g_stop_signal.load() != 0 ? 1.0 : 0.0}, torch::kFloat64);
  t.host_comm->all_reduce_sum(agree);
  r.loss = agree[0].item<double>() / t.world.size();
  r.loss_scale = t.scaler->scale();
  stop_requested = agree[1].item<double>() > 0;

  r.forward_s = clock.seconds(*t.forward_done);
  r.backward_s = clock.seconds(backward_done) - r.forward_s;
  r.compute_s = r.forward_s + r.backward_s;
  r.comm_exposed_s = clock.seconds(reduced) - clock.seconds(backward_done);
  r.optim_s = clock.seconds(optimized) - clock.seconds(reduced);
  r.comm_wire_s = t.reducer->wire_seconds();
  r.comm_bytes = static_cast<double>(t.reducer->bytes_per_step());
  return r;
}

// ---- the loop --------------------------------------------------------------------------------

// The current epoch's steps from where it stands to its end or train.max_steps. Returns whether the
// ranks agreed to stop (a signal); `loss_sum`/`good_steps` get the epoch's finite steps.
bool train_epoch(Training& t, double& loss_sum, std::int64_t& good_steps) {
  std::int64_t last_step = t.steps_per_epoch;
  if (t.o.max_steps > 0) last_step = std::min(last_step, t.state.step_in_epoch + (t.o.max_steps - t.state.global_step));
  loader::Prefetcher prefetch(*t.train_data, *t.sampler, t.o.noise, t.state.epoch, static_cast<std::size_t>(t.state.step_in_epoch),
                              static_cast<std::size_t>(last_step), static_cast<std::size_t>(t.o.prefetch), /*pin_memory=*/t.device.is_cuda(),
                              t.o.noisy_target);
  Progress progress(fmt::format("epoch {}/{}", t.state.epoch + 1, t.o.epochs), t.steps_per_epoch, t.world.is_root(), "steps");
  progress.set_line_every(t.o.log_every);
  progress.advance(t.state.step_in_epoch);
  bool stop = false;
  while (t.state.step_in_epoch < last_step && !stop) {
    t.world.watchdog().set_context(fmt::format("global step {}, epoch {}", t.state.global_step + 1, t.state.epoch + 1));
    const auto t_step = Clock::now();
    const loader::Batch batch = prefetch.next();
    if (t.hooks.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(t.hooks.step_delay_ms));
    if (t.hooks.stop_at.is(t.state.global_step + 1, t.world.rank())) ::raise(SIGSTOP);
    if (t.hooks.signal_at.is(t.state.global_step + 1, t.world.rank())) ::raise(SIGUSR1);
    const double data_s = seconds_since(t_step);
    const double epoch_position = static_cast<double>(t.state.epoch) +
                                  static_cast<double>(t.state.step_in_epoch) / static_cast<double>(t.steps_per_epoch);

    rundir::StepRecord r = train_step(t, batch, learning_rate(t.o, epoch_position), stop);

    ++t.state.step_in_epoch;
    r.step = ++t.state.global_step;
    r.epoch = t.state.epoch + 1;
    r.data_s = data_s;
    r.loader_s = batch.read_seconds;
    r.step_s = seconds_since(t_step);
    r.images_per_s = static_cast<double>(t.o.batch * t.world.size()) / r.step_s;
    r.max_rss_mb = max_rss_mb();
    r.peak_gpu_mb = t.device.is_cuda() ? device::cuda_peak_memory_mb(t.device.index()) : 0.0;
    t.nonfinite_in_a_row = r.skipped ? t.nonfinite_in_a_row + 1 : 0;
    if (!r.skipped) {
      loss_sum += r.loss;
      ++good_steps;
    }
    t.step_log << rundir::to_line(r) << "\n";
    progress.set_note(fmt::format("loss {:.5f}, {:.1f} img/s", r.loss, r.images_per_s));
    progress.advance();
    if (t.nonfinite_in_a_row >= t.o.max_nonfinite) {
      t.step_log.flush();
      throw CollectiveError(fmt::format("{} non-finite steps in a row (last loss {}): stopping. Lower train.lr or use another "
                                        "train.amp; the last good checkpoint is in {}",
                                        t.nonfinite_in_a_row, r.loss, t.store->dir()),
                            kExitFailure);
    }
  }
  progress.finish();
  return stop;
}

// After the last step of an epoch: take rank 0's batch-norm buffers (per-rank batch norm leaves
// each rank with its own last batch's), validate, log, checkpoint.
void end_epoch(Training& t, double epoch_s, double loss_sum, std::int64_t good_steps) {
  if (t.o.model.norm() == "batch") broadcast_state(*t.model, *t.comm, /*buffers_only=*/true);
  ++t.state.epoch;
  t.state.step_in_epoch = 0;
  bool best = false;
  if (t.val_data && t.state.epoch % t.o.val_every == 0) {
    t.world.watchdog().set_context(fmt::format("validation after epoch {}", t.state.epoch));
    t.state.last_val_loss = validate(t, t.model.get());
    best = !t.state.best_val_loss || *t.state.last_val_loss < *t.state.best_val_loss;
    if (best) t.state.best_val_loss = t.state.last_val_loss;
  }
  rundir::EpochRecord e{t.state.epoch, std::nullopt, t.state.last_val_loss, epoch_s, t.state.global_step, buffer_checksum(*t.model)};
  if (good_steps) e.train_loss = loss_sum / static_cast<double>(good_steps);
  t.step_log << rundir::to_line(e) << "\n";
  t.step_log.flush();
  if (t.world.is_root())
    log::info(fmt::format("epoch {}/{}: train loss {:.5f}, {}{}, {:.1f} s", t.state.epoch, t.o.epochs, e.train_loss.value_or(NAN),
                          t.state.last_val_loss ? fmt::format("val L1 {:.5f}", *t.state.last_val_loss) : "no validation",
                          best ? " (best)" : "", epoch_s));
  if (t.state.epoch % t.o.checkpoint_every == 0 || t.state.epoch == t.o.epochs || best) save_checkpoint(t, best);
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int run_training(dist::World& world, const config::Config& config) {
  Training t(world, config);
  t.o = dist::all_or_none(world, [&] { return read_train_options(config, world.size()); });
  world.set_timeout(t.o.timeout_s);
  set_up_devices(t);
  build_model(t);
  open_data(t);
  resume_or_start(t);
  log_set_up(t);
  if (t.val_data) {
    world.watchdog().set_context("validating the noisy input");
    const double noisy_l1 = validate(t, nullptr);
    if (world.is_root()) log::info(fmt::format("validation L1 of the noisy input itself (the floor to beat): {:.5f}", noisy_l1));
    t.step_log << rundir::to_line(rundir::BaselineRecord{noisy_l1}) << "\n";
  }

  while (t.state.epoch < t.o.epochs && (t.o.max_steps <= 0 || t.state.global_step < t.o.max_steps)) {
    const auto epoch_start = Clock::now();
    double loss_sum = 0;
    std::int64_t good_steps = 0;
    const bool stop = train_epoch(t, loss_sum, good_steps);
    t.step_log.flush();
    if (t.state.step_in_epoch == t.steps_per_epoch) end_epoch(t, seconds_since(epoch_start), loss_sum, good_steps);
    if (stop) {
      if (world.is_root()) log::warn(fmt::format("stop requested (signal): checkpointing at global step {} and exiting for requeue", t.state.global_step));
      save_checkpoint(t, false);
      return kExitRequeue;
    }
    if (t.state.step_in_epoch > 0) {  // train.max_steps reached mid-epoch
      save_checkpoint(t, false);
      break;
    }
  }
  if (world.is_root())
    log::info(fmt::format("training done: {} steps; {}; run dir {}", t.state.global_step,
                          t.state.best_val_loss ? fmt::format("best val L1 {:.5f}", *t.state.best_val_loss) : "no validation",
                          t.o.run_dir));
  return kExitOk;
}

}  // namespace cxr::train
