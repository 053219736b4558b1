#include "loader/batch.hpp"

#include <torch/version.h>

namespace cxr::loader {

torch::Tensor read_batch(const shards::ShardReader& shard, std::size_t first, std::size_t count) {
  const auto s = static_cast<std::int64_t>(shard.info().image_size);
  torch::Tensor bytes = torch::empty({static_cast<std::int64_t>(count), 1, s, s}, torch::kUInt8);
  shard.read_images(first, count, bytes.data_ptr<std::uint8_t>());
  return bytes.to(torch::kFloat32).div_(255.0);
}

std::string torch_runtime_summary() {
  return std::string("LibTorch ") + TORCH_VERSION + " (CUDA available: " + (torch::cuda::is_available() ? "yes" : "no") +
         ", threads: " + std::to_string(at::get_num_threads()) + ")";
}

}  // namespace cxr::loader
