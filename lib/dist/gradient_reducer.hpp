#pragma once
// Gradient averaging across ranks, as PyTorch DDP's Reducer and Horovod's tensor fusion do it:
// parameters are grouped into buckets of about `bucket_mb` in reverse order (the order backward
// produces their gradients); an autograd hook copies each gradient into its bucket as soon as it
// is ready, and a full bucket starts its all-reduce at once, overlapping the rest of backward.
// finish() waits for every bucket, divides by the world size and writes the averages back into
// the parameters' .grad. With overlap off, all buckets are reduced after backward instead.
// With overlap on over MPI, every gradient hook also tests the buckets in flight: MPI moves a
// non-blocking collective on only inside MPI calls, so without them the transfer would wait for
// finish() (docs/BENCHMARKS.md, "Overlap", measures both).
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "dist/communicator.hpp"

namespace cxr::dist {

class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> params, std::shared_ptr<Communicator> comm, double bucket_mb, bool overlap,
                  bool drive_progress = true);
  // Call before each backward; the buckets' all-reduces mark their start and end on `timeline`.
  void prepare(Timeline* timeline = nullptr);
  // Call after backward: every rank's .grad then holds the average over ranks.
  void finish();
  std::size_t bucket_count() const { return buckets_.size(); }
  std::vector<std::int64_t> bucket_numels() const;  // the layout, in all-reduce order (cxr-bench allreduce --buckets)
  // Bytes all-reduced per step (0 on one rank: nothing travels).
  std::int64_t bytes_per_step() const;
  // After finish(): the all-reduce's time on the wire this step, the time any bucket was in
  // flight, in seconds on the timeline given to prepare().
  double wire_seconds() const;

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::vector<std::int64_t> offsets;
    torch::Tensor flat;
    std::size_t ready = 0;
    std::unique_ptr<Work> work;
    std::optional<std::pair<Timeline::Mark, Timeline::Mark>> wire;  // this step's
  };
  void on_ready(std::size_t param, const torch::Tensor& grad);
  void start(Bucket& bucket);

  std::vector<torch::Tensor> params_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;  // param -> (bucket, slot)
  std::vector<Bucket> buckets_;
  std::shared_ptr<Communicator> comm_;
  bool overlap_, drive_progress_;
  Timeline* timeline_ = nullptr;
};

}  // namespace cxr::dist
