#pragma once
// From shards to tensors: the uint8 images of a shard become a float batch [N, 1, H, W] in [0, 1],
// the layout and scale the models train on (the reference study's ToTensor()).
#include <torch/torch.h>

#include <string>

#include "shards/shard.hpp"

namespace cxr::loader {

// Reads images [first, first + count) of `shard` into a float tensor [count, 1, S, S] / 255.
torch::Tensor read_batch(const shards::ShardReader& shard, std::size_t first, std::size_t count);

// "LibTorch 2.15.0 (CUDA available: no)": what this binary runs on, for logs and --version.
std::string torch_runtime_summary();

}  // namespace cxr::loader
