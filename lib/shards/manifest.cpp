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
    for (const auto& [name, split] : m.details.at("splits").items()) {
      ManifestSplit& s = m.splits[name];
      s.images = split.at("images").get<std::size_t>();
      s.patients = split.at("patients").get<std::size_t>();
      for (const auto& sh : split.at("shards"))
        s.shards.push_back({sh.at("file"), sh.at("split"), sh.at("digest"), sh.at("sha256"), sh.at("index"), sh.at("count"),
                            sh.at("planned"), sh.at("bytes")});
    }
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
  out["splits"] = json::object();
  for (const auto& [name, s] : m.splits) {
    json shards = json::array();
    for (const auto& sh : s.shards)
      shards.push_back({{"file", sh.file}, {"split", sh.split}, {"index", sh.index}, {"count", sh.count}, {"planned", sh.planned},
                        {"digest", sh.digest}, {"sha256", sh.sha256}, {"bytes", sh.bytes}});
    out["splits"][name] = {{"images", s.images}, {"patients", s.patients}, {"shards", shards}};
  }
  write_file_atomic(manifest_path(dataset_dir), out.dump(2) + "\n");
}

}  // namespace cxr::shards
