#pragma once
// A run's configuration: RUN_DIR/config.yaml, saved when the run began, and the copy every
// checkpoint carries. Every tool reads a run's settings through here (so through the schema).
#include <string>

#include "config/config.hpp"

namespace cxr::config {

// RUN_DIR/config.yaml through the project schema; InputError naming the file when the directory
// is not a run or the file is invalid.
Config load_run_config(const std::string& run_dir);

// Writes RUN_DIR/config.yaml (atomically).
void save_run_config(const std::string& run_dir, const Config& config);

// The same configuration saved inside a checkpoint (its YAML text); `source` names it in errors.
Config saved_config(const std::string& yaml, const std::string& source);

}  // namespace cxr::config
