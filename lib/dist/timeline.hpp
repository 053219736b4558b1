#pragma once
// Points in a training step on the clock of the device that runs it, read once the step is
// over. On CPUs: the host's wall clock (CPU work is synchronous). On GPUs: CUDA events, recorded
// in stream order on the compute stream (mark) and, by the NCCL communicator, on its
// communication stream; they are read after the step's one host synchronisation (the loss
// read), so timing adds no wait of its own. What the trainer derives from the marks (forward,
// backward, the all-reduce's time on the wire and the part the step waited for) is in
// train_step; the communicator marks each collective's start and end (Work::wire).
#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

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

// The host's clock (thread-safe: a collective's end may be seen by another thread).
std::unique_ptr<Timeline> make_host_timeline();

// The time during which at least one of the intervals ran (the union's length), in seconds:
// the all-reduce's time on the wire when buckets overlap each other.
double covered_seconds(std::vector<std::pair<double, double>> intervals);

}  // namespace cxr::dist
