#pragma once
// Collectives on tensors, one interface, two backends: MPI for CPU tensors and NCCL for CUDA
// tensors (built when LibTorch has CUDA and NCCL is found). Every call is collective: all ranks
// call it in the same order with tensors of the same shape and type. Every wait is bounded by
// the world's watchdog (dist.timeout_s): MPI waits under a Watch, NCCL work through a probe.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "dist/timeline.hpp"
#include "dist/world.hpp"

namespace cxr::dist {

// A collective in flight.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Moves the collective on without blocking and says whether it has finished. MPI progresses a
  // non-blocking collective only inside MPI calls: without these calls during backward, the
  // transfer would mostly happen in the final wait. (NCCL runs on its own stream: always false.)
  virtual bool test() { return false; }
  // Its start and end on the timeline it was started with, once wait() has returned. On the host
  // the end is when the collective was seen to finish (test() or wait()).
  std::optional<std::pair<Timeline::Mark, Timeline::Mark>> wire() const {
    if (start_ && end_) return std::make_pair(*start_, *end_);
    return std::nullopt;
  }

 protected:
  std::optional<Timeline::Mark> start_, end_;
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
  // With a timeline (one of make_timeline's), the collective marks its start and end on it.
  virtual std::unique_ptr<Work> all_reduce_sum_async(torch::Tensor& t, Timeline* timeline = nullptr) = 0;
  // The clock of this communicator's device: the host's for MPI, CUDA events for NCCL.
  virtual std::unique_ptr<Timeline> make_timeline() = 0;
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
