#pragma once
// Collectives on tensors, one interface, two backends: MPI for CPU tensors and NCCL for CUDA
// tensors (built when LibTorch has CUDA and NCCL is found). Every call is collective: all ranks
// call it in the same order with tensors of the same shape and type. Every wait is bounded by
// the world's watchdog (dist.timeout_s): MPI waits under a Watch, NCCL work through a probe
// that aborts the NCCL communicator when a collective outlives the timeout.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "dist/world.hpp"

namespace cxr::dist {

// A collective in flight.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;
  // In-place sum over ranks of a contiguous tensor.
  virtual void all_reduce_sum(torch::Tensor& t) = 0;
  // The same, started now and finished by wait(): lets communication overlap the backward pass.
  virtual std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t) = 0;
  virtual void broadcast(torch::Tensor& t, int root) = 0;
};

// MPI on host memory. Works for CPU tensors of float, double, int64 and uint8.
std::shared_ptr<Communicator> make_mpi_communicator(const World& world);

// NCCL for CUDA tensors: unique id from rank 0 over MPI, cudaSetDevice(device), then
// ncclCommInitRank. Its collectives are watched by `watchdog` (default: the world's). Throws
// RuntimeError when this build has no NCCL.
std::shared_ptr<Communicator> make_nccl_communicator(const World& world, int device, Watchdog* watchdog = nullptr);

// Autograd functions keep IValues, not pointers: a communicator is kept in a slot, and its
// number finds it again in backward (synchronised batch norm).
std::int64_t autograd_slot(const std::shared_ptr<Communicator>& comm);
Communicator& communicator_in_slot(std::int64_t slot);

}  // namespace cxr::dist
