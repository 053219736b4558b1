#include "device/device.hpp"

#include "common/error.hpp"
#include "device/placement.hpp"

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDACachingAllocator.h>
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime.h>
#endif

#include <fmt/format.h>

namespace cxr::device {

#ifdef CXR_HAVE_NCCL
bool cuda_build() { return true; }
static void select_cuda_device(int device) { c10::cuda::set_device(static_cast<c10::DeviceIndex>(device)); }
double cuda_peak_memory_mb(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
}
std::string cuda_device_names() {
  std::string out;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return out;
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    out += fmt::format("  cuda:{}  {}, {:.1f} GiB, sm_{}{}\n", d, p.name, static_cast<double>(p.totalGlobalMem) / (1 << 30), p.major, p.minor);
  }
  return out;
}
void cuda_busy_wait(std::int64_t cycles) { at::cuda::sleep(cycles); }
void cuda_synchronize(int device) {
  select_cuda_device(device);
  if (cudaDeviceSynchronize() != cudaSuccess) throw RuntimeError("cudaDeviceSynchronize failed");
}
static std::string cuda_device_uuid(int device) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return fmt::format("cuda:{} (no properties)", device);
  std::string out = "GPU-";
  for (int i = 0; i < 16; ++i) {
    out += fmt::format("{:02x}", static_cast<unsigned char>(p.uuid.bytes[i]));
    if (i == 3 || i == 5 || i == 7 || i == 9) out += "-";
  }
  return out;
}
#else
std::string cuda_device_names() { return ""; }
static std::string cuda_device_uuid(int) { return ""; }
void cuda_busy_wait(std::int64_t) { throw RuntimeError("this build has no CUDA support"); }
void cuda_synchronize(int) {}
bool cuda_build() { return false; }
static void select_cuda_device(int) { throw RuntimeError("this build has no CUDA support"); }
double cuda_peak_memory_mb(int) { return 0.0; }
#endif

namespace {

// Whether `want` means CUDA here; InputError when it asks for a GPU this process cannot use.
bool wants_cuda(const std::string& want) {
  if (want != "auto" && want != "cpu" && want != "cuda") throw InputError("device: expected auto, cpu or cuda, got '" + want + "'");
  const bool cuda = want == "cuda" || (want == "auto" && torch::cuda::is_available() && cuda_build());
  if (!cuda) return false;
  if (!torch::cuda::is_available()) throw InputError("device cuda asked for, but this LibTorch sees no CUDA device");
  if (!cuda_build()) throw InputError("device cuda asked for, but this build has no CUDA support (built against a CPU LibTorch)");
  return true;
}

torch::Device cuda_device(int index) {
  select_cuda_device(index);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace

torch::Device choose_device(const std::string& want) {
  if (!wants_cuda(want)) return torch::Device(torch::kCPU);
  return cuda_device(pick_visible_device(0, static_cast<int>(torch::cuda::device_count())));
}

torch::Device choose_device(const std::string& want, const dist::World& world, bool one_rank_per_device) {
  // Each rank picks on its own; the ranks of a node then compare the physical devices picked
  // (a UUID is the same whichever task sees the device, whatever its index there).
  int index = -1;
  std::string uuid;
  auto failure = dist::failure_in([&] {
    if (!wants_cuda(want)) return;
    index = pick_visible_device(world.local_rank(), static_cast<int>(torch::cuda::device_count()));
    uuid = cuda_device_uuid(index);
  });
  const auto picked = world.node_all_gather(uuid);
  if (!failure && one_rank_per_device)
    failure = dist::failure_in([&] { check_one_rank_per_device(picked, world.host()); });
  world.agree(failure);
  return index < 0 ? torch::Device(torch::kCPU) : cuda_device(index);
}

}  // namespace cxr::device
