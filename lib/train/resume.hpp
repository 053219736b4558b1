#pragma once
// Resuming continues one experiment: the guards a checkpoint must pass before this run loads it.
#include <string>

#include "config/config.hpp"
#include "train/checkpoint.hpp"

namespace cxr::train {

// The noise, the seed, the per-rank batch and the optimizer must not change (they define what is
// trained and where a mid-epoch position points), and a mid-epoch position needs the rank count
// that made it. Throws InputError naming the keys. Other changes (more epochs, another lr) are
// allowed; rank 0 (`root`) lists them in the log.
void check_resumable(const CheckpointContent& checkpoint, const config::Config& config, int ranks, const std::string& path,
                     bool root);

}  // namespace cxr::train
