#pragma once
// Training data: one split of a cxr-preprocess dataset, a distributed sampler, and a background
// prefetcher that prepares the next batches while the current one trains.
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "noise/noise.hpp"
#include "shards/shard.hpp"

namespace cxr::loader {

// The images of one split, read through the shards listed in manifest.json. Not thread-safe
// (the HDF5 library is serial): one thread reads.
class Dataset {
 public:
  Dataset(const std::string& dataset_dir, const std::string& split);
  std::size_t size() const { return index_.size(); }
  int image_size() const { return image_size_; }
  const shards::Sample& sample(std::size_t i) const;
  std::uint64_t id(std::size_t i) const { return ids_[i]; }
  // > 0: the split is an obfuscated export (cxr-preprocess --obfuscate) of this many noisy
  // copies per image and holds no clean image: read_batch() refuses it.
  int noisy_copies() const { return copies_; }
  // An export's noisy copies of image i: noisy_copies() x image_size^2 values, value x 65535.
  void read_noisy(std::size_t i, std::uint16_t* out) const;
  // Images `indices` as a float tensor [N, 1, S, S] in [0, 1].
  torch::Tensor read_batch(const std::vector<std::size_t>& indices) const;

 private:
  int image_size_ = 0, copies_ = 0;
  std::string where_;  // "DIR split 'S'", for errors
  std::vector<std::unique_ptr<shards::ShardReader>> shards_;
  std::vector<std::pair<std::size_t, std::size_t>> index_;  // (shard, row)
  std::vector<std::uint64_t> ids_;
};

// Which samples each rank takes. Training: a permutation of the whole split keyed by
// (seed, epoch), cut into global batches of world * batch; rank r takes slice r of each, so the
// ranks of a step together see exactly what one rank with the global batch would see. The tail
// that does not fill a global batch is dropped (the same on every rank).
class DistributedSampler {
 public:
  DistributedSampler(std::size_t dataset_size, std::size_t batch_per_rank, int rank, int world, std::uint64_t seed);
  std::size_t steps_per_epoch() const;
  std::vector<std::size_t> batch(std::int64_t epoch, std::size_t step) const;  // this rank's indices

 private:
  std::size_t n_, batch_;
  int rank_, world_;
  std::uint64_t seed_;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::size_t> order_;
};

// Evaluation: rank r of R takes the contiguous slice [r*n/R, (r+1)*n/R): every image exactly
// once whatever R, no padding duplicates.
std::vector<std::size_t> evaluation_slice(std::size_t dataset_size, int rank, int world);

struct Batch {
  std::vector<std::size_t> indices;
  torch::Tensor clean, noisy;  // [B, 1, S, S] float; no clean from an obfuscated export
  torch::Tensor target;        // what the loss compares the output with: clean, or another noisy copy
  double read_seconds = 0;     // time spent producing it (in the background)
};

// Images `indices` of `data` and their obfuscated copies (noise keyed by image id and `epoch`):
// what training, validation and evaluation all start from.
Batch read_noisy_batch(const Dataset& data, const std::vector<std::size_t>& indices, const noise::NoiseOptions& noise,
                       std::int64_t epoch);

// Noise2Noise (train.target=noisy): input and target are independent noisy copies of each image.
// From an obfuscated export of k copies, the input is one stored copy chosen per (seed, image,
// epoch) and the target the mean of the other k - 1 (the same expectation, k - 1 times less noise
// variance); from clean data, two draws of the noise (the target's keyed by Purpose::NoisyTarget). No
// clean image is read from an export; from clean data `clean` is kept for metrics only.
Batch read_noisy_pair(const Dataset& data, const std::vector<std::size_t>& indices, const noise::NoiseOptions& noise,
                      std::int64_t epoch);

// Produces batches (epoch, step) for step in [first_step, last_step) on a background thread,
// `depth` ahead, in page-locked memory when `pin_memory` (for asynchronous copies to a GPU).
// next() blocks until the next batch is ready.
class Prefetcher {
 public:
  Prefetcher(const Dataset& data, const DistributedSampler& sampler, const noise::NoiseOptions& noise, std::int64_t epoch,
             std::size_t first_step, std::size_t last_step, std::size_t depth = 3, bool pin_memory = false,
             bool noisy_target = false);
  ~Prefetcher();
  Batch next();

 private:
  void run();
  const Dataset& data_;
  const DistributedSampler& sampler_;
  noise::NoiseOptions noise_;
  std::int64_t epoch_;
  std::size_t next_step_, last_step_, depth_;
  bool pin_memory_, noisy_target_;
  std::deque<Batch> queue_;
  std::string error_;
  bool stop_ = false, done_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace cxr::loader
