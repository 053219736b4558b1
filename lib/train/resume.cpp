#include "train/resume.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/log.hpp"
#include "config/run_config.hpp"
#include "config/schema.hpp"

namespace cxr::train {
namespace {

bool same_value(const config::Config& a, const config::Config& b, const config::Key& k) {
  switch (k.type) {
    case config::Type::Int: return a.get_int(k.path) == b.get_int(k.path);
    case config::Type::Float: return a.get_float(k.path) == b.get_float(k.path);
    case config::Type::Bool: return a.get_bool(k.path) == b.get_bool(k.path);
    case config::Type::String: return a.get_string(k.path) == b.get_string(k.path);
  }
  return false;
}

bool defines_run(const std::string& key) {
  return key.rfind("noise.", 0) == 0 || key == "seed" || key == "train.batch_size" || key == "train.optimizer";
}

}  // namespace

void check_resumable(const CheckpointContent& c, const config::Config& config, int ranks, const std::string& path, bool root) {
  const config::Config saved = config::saved_config(c.config_yaml, path + " (its saved config)");
  std::string fixed, changed;
  for (const auto& k : config::project_schema().keys()) {
    if (same_value(saved, config, k)) continue;
    std::string& list = defines_run(k.path) ? fixed : changed;
    list += (list.empty() ? "" : ", ") + k.path + " " + saved.text(k.path) + " -> " + config.text(k.path);
  }
  if (!fixed.empty())
    throw InputError("cannot resume " + path + " with " + fixed +
                     ": these settings define the run. Use a new run directory (train.run_dir) for a new experiment.");
  if (c.state.step_in_epoch > 0 && c.state.ranks != ranks)
    throw InputError(fmt::format("cannot resume {} in the middle of an epoch with {} ranks: it was made with {} (rerun with "
                                 "that many, or resume from an end-of-epoch checkpoint)",
                                 path, ranks, c.state.ranks));
  if (root && !changed.empty()) log::warn("resuming with changed settings: " + changed);
  if (root && c.state.ranks != ranks)
    log::warn(fmt::format("resuming a {}-rank run with {} ranks: the global batch changes from here on", c.state.ranks, ranks));
}

}  // namespace cxr::train
