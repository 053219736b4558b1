#pragma once
// cxr-reduce: every rank's evaluation CSVs and training logs of one or more runs, reduced into
// summary.csv, summary.json, summary.md and PNG plots. Under mpirun the files are parsed in
// parallel (dealt round-robin), rank 0 computes and writes. Collective.
#include <string>
#include <vector>

#include "dist/world.hpp"

namespace cxr::report {

struct ReduceOptions {
  std::vector<std::string> runs;  // run directories
  std::string out_dir;
  bool plots = true;
  bool training_only = false;  // runs without cxr-eval results (scaling studies): training logs only
  double timeout_s = 600;      // dist.timeout_s: the longest wait in any collective
};

// Missing or malformed rank files, NaN values, incomplete evaluations and runs compared on
// different test sets are InputErrors naming the file (and line).
int run_reduce(dist::World& world, const ReduceOptions& options);

}  // namespace cxr::report
