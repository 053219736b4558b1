#include "shards/manifest.hpp"

#include <filesystem>

#include "common/error.hpp"
#include "common/files.hpp"

namespace cxr::shards {

using json = nlohmann::json;

std::string manifest_path(const std::string& dataset_dir) { return (fs::path(dataset_dir) / "manifest.json").string(); }

Manifest read_manifest(const std::string& dataset_dir) {
  const std::string path = manifest_path(dataset_dir);
  if (!fs::exists(path)) throw InputError("no dataset at " + dataset_dir + ": " + path + " is missing (run cxr-preprocess first)");
  Manifest m;
  try {
    m.details = json::parse(read_text_file(path));
    m.plan_digest = m.details.at("plan_digest").get<std::string>();
    m.splits = m.details.at("splits").get<std::map<std::string, ManifestSplit>>();
  } catch (const json::exception& e) {
    throw InputError(path + ": not a valid manifest: " + e.what());
  }
  m.details.erase("plan_digest");
  m.details.erase("splits");
  return m;
}

void write_manifest(const std::string& dataset_dir, const Manifest& m) {
  json out = m.details;
  out["plan_digest"] = m.plan_digest;
  out["splits"] = m.splits;
  write_file_atomic(manifest_path(dataset_dir), out.dump(2) + "\n");
}

}  // namespace cxr::shards
