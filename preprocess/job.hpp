#pragma once
// The cxr-preprocess job: rank 0 plans, every rank writes the shards dealt to it, rank 0 writes
// manifest.json last. Collective: every rank of the world calls run().
#include <string>

#include "config/config.hpp"
#include "dist/world.hpp"

namespace cxr::preprocess {

struct JobOptions {
  std::string input;    // ChestX-ray14 root
  std::string output;   // dataset directory
  bool force = false;   // redo every shard even if a complete one is there
  int obfuscate = 0;    // > 0: an obfuscated export of this many noisy copies per image (train, val)
  const config::Config* config = nullptr;
};

// Returns the exit code. Input problems found while planning end every rank with exit 2
// (CollectiveError); a failure while writing ends every rank with exit 1 and no manifest.
int run(dist::World& world, const JobOptions& options);

}  // namespace cxr::preprocess
