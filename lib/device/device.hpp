#pragma once
// The few CUDA calls the trainer needs outside LibTorch's C++ API. In a build without CUDA they
// report that no device exists.
#include <torch/torch.h>

#include <string>

#include "dist/world.hpp"

namespace cxr::device {

bool cuda_build();                       // built with a CUDA LibTorch and NCCL
double cuda_peak_memory_mb(int device);  // peak allocated by LibTorch's caching allocator, MB
std::string cuda_device_names();         // "  cuda:0  NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90\n" per device
void cuda_busy_wait(std::int64_t cycles);  // keeps the current stream busy (tests: a collective that cannot finish yet)
void cuda_synchronize(int device);  // waits for all the device's work (benchmarks stop their clock after it)

// The device a process computes on: "cpu", "cuda" (InputError if there is none or the build
// lacks CUDA support), or "auto" (CUDA when both are there). On CUDA it takes the device
// device::pick_visible_device chooses and makes it current. For one process (cxr-denoise).
torch::Device choose_device(const std::string& want);

// The same for one rank of an MPI job, collective. With `one_rank_per_device` (training: NCCL
// allows one rank per GPU) the ranks of each node compare the physical GPUs they picked and
// refuse to share one (device::check_one_rank_per_device); all ranks agree on the outcome.
torch::Device choose_device(const std::string& want, const dist::World& world, bool one_rank_per_device);

}  // namespace cxr::device
