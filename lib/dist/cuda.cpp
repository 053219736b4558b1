#include "dist/cuda.hpp"

#include "common/error.hpp"

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime.h>
#endif

#include <fmt/format.h>

namespace cxr::dist {

#ifdef CXR_HAVE_NCCL
bool cuda_build() { return true; }
void select_cuda_device(int device) { c10::cuda::set_device(static_cast<c10::DeviceIndex>(device)); }
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
#else
std::string cuda_device_names() { return ""; }
bool cuda_build() { return false; }
void select_cuda_device(int) { throw RuntimeError("this build has no CUDA support"); }
double cuda_peak_memory_mb(int) { return 0.0; }
#endif

torch::Device choose_device(const std::string& want, int local_rank) {
  if (want != "auto" && want != "cpu" && want != "cuda") throw InputError("device: expected auto, cpu or cuda, got '" + want + "'");
  const bool cuda = want == "cuda" || (want == "auto" && torch::cuda::is_available() && cuda_build());
  if (!cuda) return torch::Device(torch::kCPU);
  if (!torch::cuda::is_available()) throw InputError("device cuda asked for, but this LibTorch sees no CUDA device");
  if (!cuda_build()) throw InputError("device cuda asked for, but this build has no CUDA support (built against a CPU LibTorch)");
  const int index = local_rank % static_cast<int>(torch::cuda::device_count());
  select_cuda_device(index);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace cxr::dist
