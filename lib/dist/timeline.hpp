#pragma once
// Points in a training step on the clock of the device that runs it, read once the step is
// over: the host's wall clock on CPUs; on GPUs, CUDA events recorded in stream order (by the NCCL
// communicator on its own stream) and read after the step's one host synchronisation (the loss
// read), so timing adds no wait of its own. The communicator marks each collective's start and
// end (Work::wire); train_step derives the step's phases from the marks.
#include <cstddef>

namespace cxr::dist {

class Timeline {
 public:
  using Mark = std::size_t;
  virtual ~Timeline() = default;
  // Forgets the previous step's marks; the step's origin is now.
  virtual void start() = 0;
  // Now, in the order of the compute work.
  virtual Mark mark() = 0;
  // Seconds from start() to `m`; only once the work queued before `m` has run.
  virtual double seconds(Mark m) = 0;
};

}  // namespace cxr::dist
