#pragma once
// DATASET/manifest.json, the index of a dataset: written last by cxr-preprocess, read by
// everything that opens the dataset. Typed here is what code reads (the plan digest, each
// split's shards); the rest (config, totals, skipped images, timings) is for people and scripts
// and stays JSON, kept as written.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxr::shards {

struct ManifestShard {
  std::string file, split, digest, sha256;  // file relative to the dataset directory
  std::size_t index = 0, count = 0, planned = 0;
  std::uintmax_t bytes = 0;
};

struct ManifestSplit {
  std::size_t images = 0, patients = 0;
  std::vector<ManifestShard> shards;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ManifestShard, file, split, digest, sha256, index, count, planned, bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ManifestSplit, images, patients, shards)

struct Manifest {
  std::string plan_digest;
  std::map<std::string, ManifestSplit> splits;
  nlohmann::json details = nlohmann::json::object();  // every other key, as written
};

std::string manifest_path(const std::string& dataset_dir);
// InputError naming the file: "no dataset at DIR" when it is missing, invalid JSON, missing keys.
Manifest read_manifest(const std::string& dataset_dir);
void write_manifest(const std::string& dataset_dir, const Manifest& manifest);  // atomically

}  // namespace cxr::shards
