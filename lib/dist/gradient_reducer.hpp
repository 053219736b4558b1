#pragma once
// Gradient averaging across ranks, as PyTorch DDP's Reducer and Horovod's tensor fusion do it:
// parameters are grouped into buckets of about `bucket_mb` in reverse order (the order backward
// produces their gradients); an autograd hook copies each gradient into its bucket as soon as it
// is ready, and a full bucket starts its all-reduce at once, overlapping the rest of backward.
// finish() waits for every bucket, divides by the world size and writes the averages back into
// the parameters' .grad. With overlap off, all buckets are reduced after backward instead.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "dist/communicator.hpp"

namespace cxr::dist {

class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> params, std::shared_ptr<Communicator> comm, double bucket_mb, bool overlap);
  // Call before each backward.
  void prepare();
  // Call after backward: every rank's .grad then holds the average over ranks.
  void finish();
  std::size_t bucket_count() const { return buckets_.size(); }
  std::vector<std::int64_t> bucket_numels() const;  // the layout, in all-reduce order (cxr-bench allreduce --buckets)

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::vector<std::int64_t> offsets;
    torch::Tensor flat;
    std::size_t ready = 0;
    std::unique_ptr<Work> work;
  };
  void on_ready(std::size_t param, const torch::Tensor& grad);

  std::vector<torch::Tensor> params_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;  // param -> (bucket, slot)
  std::vector<Bucket> buckets_;
  std::shared_ptr<Communicator> comm_;
  bool overlap_;
};

}  // namespace cxr::dist
