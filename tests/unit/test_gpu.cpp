// The GPU cases (suite "gpu"): NCCL with one rank, CPU/GPU agreement of a forward pass, fp16 loss
// scaling on CUDA, and checkpoint/resume on the GPU. Each prints "SKIP: no CUDA device" and
// returns where this build or machine has none; ctest then reports the suite as skipped.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "dist/communicator.hpp"
#include "device/device.hpp"
#include "dist/watchdog.hpp"
#include "dist/world.hpp"
#include "helpers.hpp"
#include "models/models.hpp"
#include "train/amp.hpp"
#include "train/checkpoint.hpp"

using namespace cxr;

namespace {

bool gpu_or_skip() {
  if (device::cuda_build() && torch::cuda::is_available()) return true;
  std::printf("SKIP: no CUDA device (%s)\n", device::cuda_build() ? "LibTorch sees none" : "a CPU LibTorch build");
  return false;
}

// One MPI world for the whole test process (MPI initialises once); NCCL takes its id over it.
dist::World& test_world() {
  static int argc = 0;
  static char** argv = nullptr;
  static dist::World world(&argc, &argv);
  return world;
}

const torch::Device kGpu(torch::kCUDA, 0);

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.cpu().to(torch::kFloat64) - b.cpu().to(torch::kFloat64)).abs().max().item<double>();
}

// Full fp32 on the GPU (no TF32) while it lives: CPU/GPU comparisons need the same arithmetic.
struct StrictFp32 {
  bool cudnn = at::globalContext().allowTF32CuDNN(), cublas = at::globalContext().allowTF32CuBLAS();
  StrictFp32() {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~StrictFp32() {
    at::globalContext().setAllowTF32CuDNN(cudnn);
    at::globalContext().setAllowTF32CuBLAS(cublas);
  }
};

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("NCCL with one rank: all-reduce (blocking and overlapped with compute) and broadcast keep the values") {
    if (!gpu_or_skip()) return;
    auto comm = dist::make_nccl_communicator(test_world(), 0);
    CHECK(comm->backend() == "nccl");
    CHECK(comm->size() == 1);
    for (auto type : {torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kFloat64, torch::kInt64}) {
      CAPTURE(c10::toString(type));
      torch::Tensor t = torch::arange(1000, torch::TensorOptions().device(kGpu)).to(type);
      const torch::Tensor expected = t.clone();
      comm->all_reduce_sum(t);
      CHECK(torch::equal(t, expected));
      comm->broadcast(t, 0);
      CHECK(torch::equal(t, expected));
    }
    // The all-reduce runs on a side stream that waits for the kernel writing the tensor; the
    // consumer waits for the all-reduce. A matrix product queued in between overlaps it.
    torch::Tensor big = torch::zeros({1 << 22}, torch::TensorOptions().device(kGpu));
    big.add_(1.0);
    auto work = comm->all_reduce_sum_async(big);
    const torch::Tensor a = torch::rand({1024, 1024}, torch::TensorOptions().device(kGpu));
    const torch::Tensor product = torch::mm(a, a);
    work->wait();
    CHECK(big.sum().item<double>() == static_cast<double>(1 << 22));
    CHECK(std::isfinite(product.sum().item<double>()));
    // Synchronised batch norm on the GPU equals LibTorch's batch norm, forward and backward.
    {
      models::SyncBatchNorm sbn(8, comm);
      torch::nn::BatchNorm2d bn(8);
      sbn->to(kGpu);
      bn->to(kGpu);
      const torch::Tensor x = torch::randn({4, 8, 16, 16}, torch::TensorOptions().device(kGpu));
      const torch::Tensor xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
      const torch::Tensor ya = sbn->forward(xa), yb = bn->forward(xb);
      CHECK(torch::allclose(ya, yb, 1e-4, 1e-5));
      (ya * ya).sum().backward();
      (yb * yb).sum().backward();
      CHECK(torch::allclose(xa.grad(), xb.grad(), 1e-3, 1e-4));
    }
    // Host tensors are refused with a message naming the device expected.
    torch::Tensor host = torch::ones({3});
    CHECK(CXR_ERROR_OF(comm->all_reduce_sum(host)).find("expected cuda:0") != std::string::npos);
  }

  TEST_CASE("an NCCL collective that cannot finish is reported by the watchdog, which aborts the communicator") {
    if (!gpu_or_skip()) return;
    std::mutex mutex;
    std::condition_variable cv;
    std::string why;
    dist::Watchdog watchdog(
        0.5,
        [&](const std::string& w) {
          std::lock_guard<std::mutex> lock(mutex);
          why = w;
          cv.notify_all();
        },
        [] {});
    {
      auto comm = dist::make_nccl_communicator(test_world(), 0, &watchdog);
      torch::Tensor t = torch::ones({1024}, torch::TensorOptions().device(kGpu));
      device::cuda_busy_wait(static_cast<std::int64_t>(1) << 33);  // seconds of GPU cycles before the broadcast can run
      comm->broadcast(t, 0);
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return !why.empty(); });
      CHECK(why.find("ncclBroadcast of 1024 Float values on cuda:0 has not finished after") != std::string::npos);
      torch::cuda::synchronize();
    }
  }

  TEST_CASE("a forward pass agrees on CPU and GPU, channels-last included; fp16/bf16 autocast stays close") {
    if (!gpu_or_skip()) return;
    const StrictFp32 strict;
    for (const char* name : {"unet", "unetpp"}) {
      CAPTURE(name);
      torch::manual_seed(5);
      auto cpu = models::make_model(models::ModelOptions().name(name).base_width(8).depth(3).norm("batch"));
      auto gpu = cpu->clone_model(kGpu);
      const torch::Tensor x = torch::rand({2, 1, 64, 64});
      // Training mode (batch statistics, running averages updated) and evaluation mode.
      CHECK(max_diff(cpu->forward(x), gpu->forward(x.to(kGpu))) < 1e-4);
      auto cpu_buffers = cpu->named_buffers(true), gpu_buffers = gpu->named_buffers(true);
      double buffers = 0;
      for (const auto& kv : cpu_buffers) buffers = std::max(buffers, max_diff(kv.value(), gpu_buffers[kv.key()]));
      CHECK(buffers < 1e-5);  // running statistics updated alike
      cpu->eval();
      gpu->eval();
      torch::NoGradGuard no_grad;
      const torch::Tensor y = cpu->forward(x);
      CHECK(max_diff(y, gpu->forward(x.to(kGpu))) < 1e-4);
      // Channels-last weights and activations (the trainer's CUDA layout) compute the same.
      auto gpu_cl = gpu->clone_model(kGpu);
      for (auto& p : gpu_cl->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
      gpu_cl->eval();
      CHECK(max_diff(y, gpu_cl->forward(x.to(kGpu).contiguous(torch::MemoryFormat::ChannelsLast))) < 1e-4);
      for (const char* amp : {"fp16", "bf16"}) {
        CAPTURE(amp);
        train::AutocastGuard autocast(amp, kGpu);
        const torch::Tensor low = gpu->forward(x.to(kGpu));
        CHECK((low.scalar_type() == (std::string(amp) == "fp16" ? torch::kHalf : torch::kBFloat16)));
        const double mean_err = (low.cpu().to(torch::kFloat32) - y).abs().mean().item<double>();
        CHECK(mean_err < 2e-2);
      }
    }
  }

  TEST_CASE("fp16 loss scaling on CUDA: fused unscale, inf/NaN back-off, and a run whose loss falls") {
    if (!gpu_or_skip()) return;
    train::LossScaler s(true, train::LossScalerOptions().init_scale(1024).growth_interval(2));
    torch::Tensor p = torch::zeros({5}, torch::TensorOptions().device(kGpu).requires_grad(true));
    p.mutable_grad() = torch::full({5}, 2048.0f, torch::TensorOptions().device(kGpu));
    CHECK(s.unscale({p}));
    CHECK(torch::equal(p.grad().cpu(), torch::full({5}, 2.0f)));
    s.update(false);
    p.mutable_grad() = torch::full({5}, 4.0f, torch::TensorOptions().device(kGpu));
    CHECK(s.unscale({p}));
    s.update(false);
    CHECK(s.scale() == 2048);  // grown after growth_interval clean steps
    p.mutable_grad() = torch::full({5}, 1.0f, torch::TensorOptions().device(kGpu));
    p.mutable_grad()[3] = std::numeric_limits<float>::infinity();
    CHECK_FALSE(s.unscale({p}));
    s.update(true);
    CHECK(s.scale() == 1024);
    p.mutable_grad()[3] = std::nanf("");
    CHECK_FALSE(s.unscale({p}));

    // End to end: a small U-Net under fp16 autocast learns a fixed batch; the scaler backs off
    // from its large initial scale to one that fits fp16, and the loss falls.
    torch::manual_seed(3);
    auto net = models::make_model(models::ModelOptions().base_width(8).depth(2).norm("batch"));
    net->to(kGpu);
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
    train::LossScaler scaler(true, train::LossScalerOptions().growth_interval(5));
    const torch::Tensor clean = torch::rand({8, 1, 32, 32}, torch::TensorOptions().device(kGpu));
    const torch::Tensor noisy = (clean + 0.1 + 0.1 * torch::randn_like(clean)).clamp(0, 1);
    double first = 0, last = 0;
    int skipped = 0;
    for (int step = 0; step < 60; ++step) {
      opt.zero_grad();
      torch::Tensor loss;
      {
        train::AutocastGuard autocast("fp16", kGpu);
        loss = (net->forward(noisy).to(torch::kFloat32) - clean).abs().mean();
      }
      scaler.scale_loss(loss).backward();
      const bool finite = scaler.unscale(net->parameters());
      if (finite) opt.step(); else ++skipped;
      scaler.update(!finite);
      if (step == 0) first = loss.item<double>();
      last = loss.item<double>();
    }
    CHECK(std::isfinite(last));
    CHECK(last < 0.7 * first);
    CHECK(skipped < 30);
    CHECK(scaler.scale() >= 1.0);
  }

  TEST_CASE("checkpoint and resume on the GPU equal continuing in memory; a GPU checkpoint loads and trains on the CPU") {
    if (!gpu_or_skip()) return;
    // Deterministic cuDNN kernels: the two continuations must run the same arithmetic.
    const bool benchmark = at::globalContext().benchmarkCuDNN(), deterministic = at::globalContext().deterministicCuDNN();
    at::globalContext().setBenchmarkCuDNN(false);
    at::globalContext().setDeterministicCuDNN(true);
    test::ScratchDir dir("gpu-ckpt");
    const auto options = models::ModelOptions().base_width(8).depth(2).norm("batch");
    torch::manual_seed(1);
    const torch::Tensor clean = torch::rand({4, 1, 32, 32});
    const torch::Tensor noisy = (clean + 0.1 + 0.1 * torch::randn_like(clean)).clamp(0, 1);
    auto step = [&](models::DenoiserImpl& net, torch::optim::Adam& opt, const torch::Device& dev) {
      opt.zero_grad();
      (net.forward(noisy.to(dev)) - clean.to(dev)).abs().mean().backward();
      opt.step();
    };
    auto model = models::make_model(options);
    model->to(kGpu);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
    for (int i = 0; i < 3; ++i) step(*model, opt, kGpu);
    train::CheckpointContent content;
    content.model_name = options.name();
    content.model_signature = train::model_signature(options);
    content.state.global_step = 3;
    const std::string file = train::CheckpointStore(dir.path.string(), 2).save(*model, opt, content, false);
    for (int i = 0; i < 2; ++i) step(*model, opt, kGpu);

    auto resumed = models::make_model(options);
    resumed->to(kGpu);
    torch::optim::Adam opt2(resumed->parameters(), torch::optim::AdamOptions(1e-3));
    train::load_checkpoint(file, *resumed, &opt2);
    for (int i = 0; i < 2; ++i) step(*resumed, opt2, kGpu);
    auto a = model->named_parameters(true), b = resumed->named_parameters(true);
    double worst = 0;
    for (const auto& kv : a) worst = std::max(worst, max_diff(kv.value(), b[kv.key()]));
    auto ab = model->named_buffers(true), bb = resumed->named_buffers(true);
    for (const auto& kv : ab) worst = std::max(worst, max_diff(kv.value(), bb[kv.key()]));
    std::printf("gpu resume: max |uninterrupted - resumed| = %.3e\n", worst);
    CHECK(worst <= 1e-6);

    // A checkpoint written on the GPU is read on the CPU, optimizer state included, and trains.
    auto on_cpu = models::make_model(options);
    torch::optim::Adam opt3(on_cpu->parameters(), torch::optim::AdamOptions(1e-3));
    train::load_checkpoint(file, *on_cpu, &opt3);
    CHECK_NOTHROW(step(*on_cpu, opt3, torch::kCPU));
    for (const auto& p : on_cpu->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
    at::globalContext().setBenchmarkCuDNN(benchmark);
    at::globalContext().setDeterministicCuDNN(deterministic);
  }
}
