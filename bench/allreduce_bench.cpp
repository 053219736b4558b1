#include "allreduce_bench.hpp"

#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/error.hpp"
#include "common/test_hooks.hpp"
#include "device/device.hpp"
#include "dist/communicator.hpp"
#include "dist/gradient_reducer.hpp"
#include "models/models.hpp"

using nlohmann::json;
namespace dist = cxr::dist;

namespace {

struct Backend {
  std::shared_ptr<dist::Communicator> comm;
  torch::Device device{torch::kCPU};
  // NCCL calls return once queued: the clock stops after the device has finished them.
  void synchronize() const {
    if (device.is_cuda()) cxr::device::cuda_synchronize(device.index());
  }
};

Backend open_backend(const dist::World& world, const std::string& backend) {
  if (backend != "auto" && backend != "mpi" && backend != "nccl") throw cxr::InputError("--backend: auto, mpi or nccl");
  Backend b;
  b.device = cxr::device::choose_device(backend == "mpi" ? "cpu" : backend == "nccl" ? "cuda" : "auto", world, true);
  b.comm = b.device.is_cuda() ? dist::make_nccl_communicator(world, b.device.index()) : dist::make_mpi_communicator(world);
  return b;
}

torch::ScalarType scalar_type(const std::string& dtype, const Backend& b) {
  if (dtype == "float32") return torch::kFloat32;
  if (b.comm->backend() != "nccl") throw cxr::InputError("--dtype " + dtype + " needs the NCCL backend (MPI reduces float32 here)");
  if (dtype == "bfloat16") return torch::kBFloat16;
  if (dtype == "float16") return torch::kFloat16;
  throw cxr::InputError("--dtype: float32, bfloat16 or float16");
}

// Seconds per all-reduce of `t`, the slowest rank's, after `warmup` untimed calls.
double time_all_reduce(const dist::World& world, const Backend& b, torch::Tensor& t, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) b.comm->all_reduce_sum(t);
  b.synchronize();
  world.barrier("the all-reduce benchmark's start");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) b.comm->all_reduce_sum(t);
  b.synchronize();
  return world.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters);
}

// One more call on known data: rank r contributes r + 1, so every element must be n(n+1)/2.
// Returns the most wrong elements any rank holds. The test hook CXR_TEST_CORRUPT_ALLREDUCE spoils
// one element on the last rank, to show the check catches it.
std::int64_t check_all_reduce(const dist::World& world, const Backend& b, torch::Tensor& t) {
  t.fill_(world.rank() + 1);
  b.comm->all_reduce_sum(t);
  b.synchronize();
  if (cxr::test_hooks().corrupt_allreduce && world.rank() == world.size() - 1) t.view({-1})[0].add_(1);
  const double expected = world.size() * (world.size() + 1) / 2.0;
  const double tolerance = t.scalar_type() == torch::kFloat32 ? 0 : 1e-2 * expected;  // bf16/fp16 round large sums
  const auto wrong = ((t.to(torch::kFloat64) - expected).abs() > tolerance).sum().item<std::int64_t>();
  return static_cast<std::int64_t>(world.max(static_cast<double>(wrong)));
}

json row(const std::string& name, std::int64_t count, std::int64_t bytes, double seconds, int ranks, std::int64_t wrong) {
  const double algbw = static_cast<double>(bytes) / seconds / 1e9;
  const double busbw = algbw * 2.0 * (ranks - 1) / ranks;
  return {{"name", name}, {"bytes", bytes}, {"count", count}, {"time_us", seconds * 1e6}, {"algbw_gbs", algbw},
          {"busbw_gbs", busbw}, {"wrong", wrong}};
}

void print_row(const json& r) {
  std::cout << fmt::format("{:>14} {:>12} {:>12} {:>12.1f} {:>10.3f} {:>10.3f} {:>8}\n", r["name"].get<std::string>(),
                           r["bytes"].get<std::int64_t>(), r["count"].get<std::int64_t>(), r["time_us"].get<double>(),
                           r["algbw_gbs"].get<double>(), r["busbw_gbs"].get<double>(), r["wrong"].get<std::int64_t>());
}

// The message sizes: a sweep, or the trainer's buckets for the model.
std::vector<std::pair<std::string, std::int64_t>> messages(const AllReduceBenchOptions& o, const Backend& b, std::int64_t element) {
  std::vector<std::pair<std::string, std::int64_t>> out;  // (name, elements)
  if (o.buckets_mb <= 0) {
    for (std::int64_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= o.factor)
      out.emplace_back(std::to_string(bytes), std::max<std::int64_t>(1, bytes / element));
    return out;
  }
  auto model = cxr::models::make_model(
      cxr::models::ModelOptions().name(o.model).base_width(o.base_width).depth(o.depth).norm("group"));
  const dist::GradientReducer layout(model->parameters(), b.comm, o.buckets_mb, false);
  const auto sizes = layout.bucket_numels();
  for (std::size_t k = 0; k < sizes.size(); ++k) out.emplace_back(fmt::format("bucket {}", k), sizes[k]);
  return out;
}

}  // namespace

json bench_allreduce(dist::World& world, const AllReduceBenchOptions& o) {
  const Backend b = open_backend(world, o.backend);
  const auto type = dist::all_or_none(world, [&] {  // the same verdict on every rank: printed once
    if (o.factor < 2 || o.min_bytes < 1 || o.max_bytes < o.min_bytes)
      throw cxr::InputError("need 1 <= --min-bytes <= --max-bytes and --factor >= 2");
    return scalar_type(o.dtype, b);
  });
  const auto element = static_cast<std::int64_t>(torch::elementSize(type));
  const bool root = world.is_root();
  if (root) {
    std::cout << fmt::format("# all-reduce (sum, in place), {} ranks, backend {}, {} on {}, {} warm-up + {} timed iterations{}\n",
                             world.size(), b.comm->backend(), o.dtype, b.device.str(), o.warmup, o.iters,
                             o.buckets_mb > 0 ? fmt::format("; the buckets of {} base {} depth {} at {} MB", o.model, o.base_width,
                                                            o.depth, o.buckets_mb)
                                              : "");
    std::cout << fmt::format("{:>14} {:>12} {:>12} {:>12} {:>10} {:>10} {:>8}\n", "size", "bytes", "count", "time(us)",
                             "algbw", "busbw", "#wrong");
  }
  json rows = json::array();
  std::int64_t wrong = 0, total_bytes = 0;
  double total_s = 0, busbw_sum = 0;
  for (const auto& [name, count] : messages(o, b, element)) {
    torch::Tensor t = torch::zeros({count}, torch::TensorOptions().dtype(type).device(b.device));
    const double seconds = time_all_reduce(world, b, t, o.warmup, o.iters);
    const json r = row(name, count, count * element, seconds, world.size(), check_all_reduce(world, b, t));
    if (root) print_row(r);
    wrong += r["wrong"].get<std::int64_t>();
    total_bytes += count * element;
    total_s += seconds;
    busbw_sum += r["busbw_gbs"].get<double>();
    rows.push_back(r);
  }
  const double avg_busbw = rows.empty() ? 0 : busbw_sum / static_cast<double>(rows.size());
  if (root) {
    std::cout << fmt::format("# out of bounds values: {} {}\n# avg bus bandwidth: {:.3f} GB/s\n", wrong, wrong ? "ERROR" : "OK",
                             avg_busbw);
    if (o.buckets_mb > 0)
      std::cout << fmt::format("# all buckets one after another: {} bytes in {:.1f} us per step\n", total_bytes, total_s * 1e6);
  }
  return {{"what", "allreduce"}, {"ranks", world.size()}, {"backend", b.comm->backend()}, {"dtype", o.dtype},
          {"device", b.device.str()}, {"warmup", o.warmup}, {"iters", o.iters}, {"buckets_mb", o.buckets_mb},
          {"rows", rows}, {"wrong", wrong}, {"avg_busbw_gbs", avg_busbw}, {"total_bytes", total_bytes}, {"total_us", total_s * 1e6}};
}
