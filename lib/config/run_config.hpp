#pragma once
// A run directory's config.yaml: the effective configuration cxr-train saved when the run began.
// Every tool reads a run's settings through here (and so through the project schema).
#include <string>

#include "config/config.hpp"

namespace cxr::config {

// RUN_DIR/config.yaml through the project schema; InputError naming the file when the directory
// is not a run or the file is invalid.
Config load_run_config(const std::string& run_dir);

// Writes RUN_DIR/config.yaml (atomically).
void save_run_config(const std::string& run_dir, const Config& config);

}  // namespace cxr::config
