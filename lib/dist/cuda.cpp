#include "dist/cuda.hpp"

#include "common/error.hpp"

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace cxr::dist {

#ifdef CXR_HAVE_NCCL
bool cuda_build() { return true; }
void select_cuda_device(int device) { c10::cuda::set_device(static_cast<c10::DeviceIndex>(device)); }
double cuda_peak_memory_mb(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
}
#else
bool cuda_build() { return false; }
void select_cuda_device(int) { throw RuntimeError("this build has no CUDA support"); }
double cuda_peak_memory_mb(int) { return 0.0; }
#endif

}  // namespace cxr::dist
