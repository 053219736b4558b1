#pragma once
// The few CUDA calls the trainer needs outside LibTorch's C++ API. In a build without CUDA they
// report that no device exists.
#include <torch/torch.h>

#include <string>

namespace cxr::dist {

bool cuda_build();                     // built with a CUDA LibTorch and NCCL
void select_cuda_device(int device);   // cudaSetDevice (RuntimeError without CUDA)
double cuda_peak_memory_mb(int device);  // peak allocated by LibTorch's caching allocator, MB
std::string cuda_device_names();         // "  cuda:0  NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90\n" per device

// The device one rank computes on: "cpu", "cuda" (InputError if there is none or the build lacks
// CUDA support), or "auto" (CUDA when both are there). A CUDA rank takes the GPU of its local
// rank (one process per GPU) and makes it current.
torch::Device choose_device(const std::string& want, int local_rank);

}  // namespace cxr::dist
