#pragma once
// The few CUDA calls the trainer needs outside LibTorch's C++ API. In a build without CUDA they
// report that no device exists.
namespace cxr::dist {

bool cuda_build();                     // built with a CUDA LibTorch and NCCL
void select_cuda_device(int device);   // cudaSetDevice (RuntimeError without CUDA)
double cuda_peak_memory_mb(int device);  // peak allocated by LibTorch's caching allocator, MB

}  // namespace cxr::dist
