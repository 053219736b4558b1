#pragma once
// Planning cxr-preprocess (rank 0): read the metadata and lists, assign splits, find the PNGs,
// cut each split into shards. The plan is plain data that travels to the other ranks as JSON.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nih/split.hpp"
#include "shards/shard.hpp"

namespace cxr::preprocess {

struct PlanOptions {
  std::string input;            // dataset root
  std::string metadata;         // resolved paths of the inputs
  std::string train_val_list;
  std::string test_list;
  int image_size = 256;
  int shard_size = 1024;
  long long limit = 0;
  int gzip_level = 1;
  nih::SplitOptions split;
  // --obfuscate K: train and val shards hold K noisy copies of each image (noise mean, sigma),
  // no clean pixels; the test split stays clean (it is evaluated where the clean images are).
  int obfuscate_copies = 0;
  double noise_mean = 0.1, noise_sigma = 0.1;
};

// Whether `split`'s shards are obfuscated under these options.
bool obfuscated_split(const PlanOptions& s, const std::string& split);

struct PlannedImage {
  std::string path;             // PNG on disk
  std::uint64_t bytes = 0;      // its size, part of the shard digest
  shards::Sample sample;
};

struct PlannedShard {
  std::string split;            // "train", "val", "test"
  int index = 0;                // within the split
  std::string file;             // relative to the output directory: "train/shard-00000.h5"
  std::string digest;           // hash of everything that determines the shard's content
  std::vector<PlannedImage> images;
};

struct PlannedSkip {
  std::string image;
  std::string split;            // where it would have gone, "" when unknown
  std::string reason;
};

struct Plan {
  std::string digest;           // hash of all shard digests and settings
  std::vector<PlannedShard> shards;
  std::vector<PlannedSkip> skipped;   // listed but not processed, with the reason
  std::vector<std::string> warnings;
  std::string metadata_format;        // "2017" or "2020"
  std::size_t metadata_rows = 0, metadata_patients = 0;
  std::size_t listed = 0;             // names in the two lists
  std::size_t excluded_by_limit = 0;
  std::size_t unlisted_on_disk = 0;   // PNGs present but in no list
};

// Resolves the input paths from the root and the input.* config keys (InputError if missing).
void resolve_inputs(PlanOptions& options, const std::string& metadata, const std::string& train_val, const std::string& test);

// Builds the plan. InputError for missing or malformed inputs.
Plan make_plan(const PlanOptions& options);

// The plan as JSON (nlohmann's to_json / from_json); an image is a compact array.
void to_json(nlohmann::json& j, const PlannedImage& image);
void from_json(const nlohmann::json& j, PlannedImage& image);
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlannedShard, split, index, file, digest, images)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlannedSkip, image, split, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Plan, digest, shards, skipped, warnings, metadata_format, metadata_rows,
                                   metadata_patients, listed, excluded_by_limit, unlisted_on_disk)

}  // namespace cxr::preprocess
