#pragma once
// cxr-bench loader: the training loop's data path alone (HDF5 read, noise, optional pinning), as
// the trainer's prefetch thread runs it. A GPU step faster than this waits for data.
#include <nlohmann/json.hpp>

#include <string>

nlohmann::json bench_loader(const std::string& dataset, int batch, int steps, int threads);
