#include "loader/dataset.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include "common/error.hpp"
#include "common/files.hpp"
#include "noise/export_noise.hpp"
#include "random/keyed.hpp"
#include "shards/manifest.hpp"

namespace cxr::loader {
namespace {

// The serial HDF5 library keeps global state: every call from any thread goes through this.
std::mutex hdf5_mutex;

std::vector<std::uint64_t> ids_of(const Dataset& data, const std::vector<std::size_t>& indices) {
  std::vector<std::uint64_t> ids;
  for (auto i : indices) ids.push_back(data.id(i));
  return ids;
}

}  // namespace

Dataset::Dataset(const std::string& dir, const std::string& split) {
  const shards::Manifest manifest = shards::read_manifest(dir);
  const std::string manifest_path = shards::manifest_path(dir);
  const auto it = manifest.splits.find(split);
  if (it == manifest.splits.end()) throw InputError(manifest_path + ": the dataset has no '" + split + "' split");
  std::lock_guard<std::mutex> lock(hdf5_mutex);
  for (const auto& sh : it->second.shards) {
    const std::string path = (fs::path(dir) / sh.file).string();
    auto reader = std::make_unique<shards::ShardReader>(path);
    if (reader->info().plan_digest != sh.digest)
      throw InputError(path + " does not belong to " + manifest_path +
                       " (its digest differs: a later cxr-preprocess run replaced it); rerun cxr-preprocess");
    if (shards_.empty()) image_size_ = reader->info().image_size, copies_ = reader->info().copies;
    if (reader->info().image_size != image_size_) throw InputError(path + ": image size differs from the other shards");
    if (reader->info().copies != copies_) throw InputError(path + ": obfuscated and clean shards mixed in one split");
    for (std::size_t row = 0; row < reader->info().count; ++row) {
      index_.emplace_back(shards_.size(), row);
      ids_.push_back(rng::image_id(reader->info().samples[row].image));
    }
    shards_.push_back(std::move(reader));
  }
  if (index_.empty()) throw InputError(manifest_path + ": the '" + split + "' split has no images");
  where_ = dir + " split '" + split + "'";
}

const shards::Sample& Dataset::sample(std::size_t i) const {
  const auto& [shard, row] = index_.at(i);
  return shards_[shard]->info().samples[row];
}

void Dataset::read_noisy(std::size_t i, std::uint16_t* out) const {
  const auto& [shard, row] = index_.at(i);
  std::lock_guard<std::mutex> lock(hdf5_mutex);
  shards_[shard]->read_noisy(row, out);
}

torch::Tensor Dataset::read_batch(const std::vector<std::size_t>& indices) const {
  if (copies_ > 0)
    throw InputError(where_ + " is an obfuscated export (" + std::to_string(copies_) + " noisy copies per image, no clean pixels)");
  const auto s = static_cast<std::int64_t>(image_size_);
  torch::Tensor bytes = torch::empty({static_cast<std::int64_t>(indices.size()), 1, s, s}, torch::kUInt8);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const auto& [shard, row] = index_.at(indices[k]);
    std::lock_guard<std::mutex> lock(hdf5_mutex);
    shards_[shard]->read_image(row, bytes.data_ptr<std::uint8_t>() + static_cast<std::int64_t>(k) * s * s);
  }
  return bytes.to(torch::kFloat32).div_(255.0);
}

// ---------------------------------------------------------------------------------------------
DistributedSampler::DistributedSampler(std::size_t n, std::size_t batch, int rank, int world, std::uint64_t seed)
    : n_(n), batch_(batch), rank_(rank), world_(world), seed_(seed) {
  if (batch == 0) throw InputError("train.batch_size must be at least 1");
  if (steps_per_epoch() == 0)
    throw InputError("the training split has " + std::to_string(n) + " images, fewer than one global batch of " +
                     std::to_string(batch * static_cast<std::size_t>(world)) + " (batch_size x ranks)");
}

std::size_t DistributedSampler::steps_per_epoch() const { return n_ / (batch_ * static_cast<std::size_t>(world_)); }

std::vector<std::size_t> DistributedSampler::batch(std::int64_t epoch, std::size_t step) const {
  if (epoch != cached_epoch_) {
    order_.resize(n_);
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::vector<std::uint64_t> key(n_);
    for (std::size_t i = 0; i < n_; ++i) key[i] = rng::hash_key(seed_, rng::Purpose::Shuffle, static_cast<std::uint64_t>(epoch), i);
    std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
    cached_epoch_ = epoch;
  }
  const std::size_t start = step * batch_ * static_cast<std::size_t>(world_) + static_cast<std::size_t>(rank_) * batch_;
  return std::vector<std::size_t>(order_.begin() + static_cast<std::ptrdiff_t>(start),
                                  order_.begin() + static_cast<std::ptrdiff_t>(start + batch_));
}

std::vector<std::size_t> evaluation_slice(std::size_t n, int rank, int world) {
  const std::size_t lo = n * static_cast<std::size_t>(rank) / static_cast<std::size_t>(world);
  const std::size_t hi = n * static_cast<std::size_t>(rank + 1) / static_cast<std::size_t>(world);
  std::vector<std::size_t> out(hi - lo);
  std::iota(out.begin(), out.end(), lo);
  return out;
}

Batch read_noisy_batch(const Dataset& data, const std::vector<std::size_t>& indices, const noise::NoiseOptions& noise,
                       std::int64_t epoch) {
  Batch b;
  b.indices = indices;
  b.clean = data.read_batch(indices);
  b.noisy = noise::obfuscate(b.clean, ids_of(data, indices), epoch, noise);
  b.target = b.clean;
  return b;
}

Batch read_noisy_pair(const Dataset& data, const std::vector<std::size_t>& indices, const noise::NoiseOptions& noise,
                      std::int64_t epoch) {
  if (data.noisy_copies() == 0) {
    Batch b = read_noisy_batch(data, indices, noise, epoch);
    b.target = noise::obfuscate(b.clean, ids_of(data, indices), epoch, noise::NoiseOptions(noise).purpose(rng::Purpose::NoisyTarget));
    return b;
  }
  const int k = data.noisy_copies();
  if (k < 2) throw InputError("Noise2Noise needs two noisy copies of each image; this export has one (cxr-preprocess --obfuscate 2)");
  const auto s = static_cast<std::int64_t>(data.image_size()), n = static_cast<std::int64_t>(indices.size());
  Batch b;
  b.indices = indices;
  b.noisy = torch::empty({n, 1, s, s});
  b.target = torch::empty({n, 1, s, s});
  std::vector<std::uint16_t> copies(static_cast<std::size_t>(k * s * s));
  for (std::int64_t j = 0; j < n; ++j) {
    const std::size_t i = indices[static_cast<std::size_t>(j)];
    data.read_noisy(i, copies.data());
    rng::KeyedStream pick(noise.seed(), rng::Purpose::NoisyTarget, data.id(i), static_cast<std::uint64_t>(epoch));
    const auto a = static_cast<std::int64_t>(pick.below(static_cast<std::uint64_t>(k)));
    // Input: copy a. Target: the mean of the other k - 1 copies. Its expectation is that of one
    // copy, E[clamp(x + n)] (the copies are independent of the input and of each other), so the
    // L2 minimiser and the bias correction are unchanged, but its noise variance is k - 1 times
    // smaller: the gradient is less noisy, which is what Noise2Noise pays for against clean targets.
    float* input = b.noisy[j][0].data_ptr<float>();
    float* target = b.target[j][0].data_ptr<float>();
    std::fill(target, target + s * s, 0.0f);
    for (std::int64_t copy = 0; copy < k; ++copy) {
      const std::uint16_t* in = copies.data() + copy * s * s;
      for (std::int64_t p = 0; p < s * s; ++p) {
        const auto v = static_cast<float>(in[p] / noise::kExportScale);
        if (copy == a) input[p] = v;
        else target[p] += v / static_cast<float>(k - 1);
      }
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
Prefetcher::Prefetcher(const Dataset& data, const DistributedSampler& sampler, const noise::NoiseOptions& noise,
                       std::int64_t epoch, std::size_t first_step, std::size_t last_step, std::size_t depth, bool pin_memory,
                       bool noisy_target)
    : data_(data), sampler_(sampler), noise_(noise), epoch_(epoch), next_step_(first_step), last_step_(last_step),
      depth_(std::max<std::size_t>(1, depth)), pin_memory_(pin_memory), noisy_target_(noisy_target) {
  thread_ = std::thread([this] { run(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Prefetcher::run() {
  try {
    // The sampler's permutation is computed here, on this thread only, before any batch.
    for (std::size_t step = next_step_; step < last_step_; ++step) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto indices = sampler_.batch(epoch_, step);
      Batch b = noisy_target_ ? read_noisy_pair(data_, indices, noise_, epoch_) : read_noisy_batch(data_, indices, noise_, epoch_);
      if (pin_memory_) {
        b.noisy = b.noisy.pin_memory();
        b.target = b.target.pin_memory();
      }
      b.read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || queue_.size() < depth_; });
      if (stop_) return;
      queue_.push_back(std::move(b));
      cv_.notify_all();
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = e.what();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  cv_.notify_all();
}

Batch Prefetcher::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) throw RuntimeError(error_.empty() ? "the data loader ran past the end of the epoch" : "data loader: " + error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  return b;
}

}  // namespace cxr::loader
