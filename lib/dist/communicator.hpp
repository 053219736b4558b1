#pragma once
// Collectives on tensors, one interface, two backends: MPI for CPU tensors and NCCL for CUDA
// tensors (built when LibTorch has CUDA and NCCL is found). Every call is collective: all ranks
// call it in the same order with tensors of the same shape and type.
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

// NCCL for CUDA tensors: unique id from rank 0 over MPI, cudaSetDevice(local rank), then
// ncclCommInitRank. Throws RuntimeError when this build has no NCCL.
std::shared_ptr<Communicator> make_nccl_communicator(const World& world, int device);
bool nccl_available();

// Sum over ranks that autograd can differentiate: the gradient of a sum over ranks is the sum
// of the gradients over ranks, so backward all-reduces too. Used by synchronised batch norm.
torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& t, const std::shared_ptr<Communicator>& comm);

}  // namespace cxr::dist
