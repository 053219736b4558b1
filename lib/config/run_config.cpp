#include "config/run_config.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "common/files.hpp"
#include "config/schema.hpp"

namespace cxr::config {

namespace fs = std::filesystem;

Config load_run_config(const std::string& run_dir) {
  const fs::path file = fs::path(run_dir) / "config.yaml";
  if (!fs::exists(file)) throw InputError(run_dir + " is not a cxr-train run directory (no config.yaml)");
  return load(project_schema(), file.string(), {});
}

void save_run_config(const std::string& run_dir, const Config& config) {
  write_file_atomic(fs::path(run_dir) / "config.yaml", config.to_yaml());
}

Config saved_config(const std::string& yaml, const std::string& source) {
  Config config(project_schema());
  config.load_text(yaml, source);
  return config;
}

}  // namespace cxr::config
