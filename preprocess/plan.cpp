#include "preprocess/plan.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"

namespace cxr::preprocess {
namespace {

// PNGs under ROOT/images_*/images/, ROOT/images_*/ or ROOT/images/, by file name.
std::unordered_map<std::string, std::string> find_images(const fs::path& root) {
  std::unordered_map<std::string, std::string> found;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || (name != "images" && name.rfind("images_", 0) != 0)) continue;
    dirs.push_back(fs::is_directory(entry.path() / "images") ? entry.path() / "images" : entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".png") continue;
      const std::string name = entry.path().filename().string();
      const auto [it, inserted] = found.emplace(name, entry.path().string());
      if (!inserted)
        throw InputError("image " + name + " is present twice: " + it->second + " and " + entry.path().string());
    }
  }
  return found;
}

std::string pick_existing(const fs::path& root, const std::vector<std::string>& names, const std::string& what) {
  for (const auto& n : names)
    if (fs::exists(root / n)) return (root / n).string();
  throw InputError("missing " + what + " in " + root.string() + " (looked for " + names.front() + ")");
}

}  // namespace

void resolve_inputs(PlanOptions& s, const std::string& metadata, const std::string& train_val, const std::string& test) {
  const fs::path root(s.input);
  if (!fs::is_directory(root)) throw InputError("dataset root " + s.input + " does not exist or is not a directory");
  auto given = [](const std::string& path, const std::string& key) {
    if (!fs::exists(path)) throw InputError(key + ": file " + path + " does not exist");
    return path;
  };
  s.metadata = !metadata.empty() ? given(metadata, "input.metadata")
                                 : pick_existing(root,
                                                 {"Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv",
                                                  "Data_Entry_2017.csv.gz", "Data_Entry_2017_v2020.csv.gz"},
                                                 "the metadata table");
  s.train_val_list = !train_val.empty() ? given(train_val, "input.train_val_list")
                                        : pick_existing(root, {"train_val_list.txt"}, "the split list");
  s.test_list = !test.empty() ? given(test, "input.test_list") : pick_existing(root, {"test_list.txt"}, "the split list");
}

bool obfuscated_split(const PlanOptions& s, const std::string& split) { return s.obfuscate_copies > 0 && split != "test"; }

Plan make_plan(const PlanOptions& s) {
  Plan plan;
  const nih::Metadata meta = nih::read_metadata(s.metadata);
  plan.metadata_format = meta.header_format;
  plan.metadata_rows = meta.records.size();
  plan.metadata_patients = meta.patient_count();
  const auto train_val = nih::read_image_list(s.train_val_list);
  const auto test = nih::read_image_list(s.test_list);
  plan.listed = train_val.size() + test.size();

  const nih::SplitAssignment assignment = nih::assign_splits(meta, train_val, test, s.split);
  plan.warnings = assignment.warnings;
  for (const auto& k : assignment.skipped) plan.skipped.push_back({k.image, "", k.reason});

  const auto files = find_images(s.input);
  std::unordered_set<std::string> listed(train_val.begin(), train_val.end());
  listed.insert(test.begin(), test.end());
  for (const auto& [name, path] : files) plan.unlisted_on_disk += listed.count(name) ? 0 : 1;

  // Images that exist, in name order across splits (a name is in one split); --limit keeps the first N.
  std::vector<std::pair<std::string, nih::Split>> candidates;
  for (nih::Split split : nih::kSplits) {
    for (const auto& name : assignment[split]) {
      if (files.count(name)) {
        candidates.push_back({name, split});
      } else {
        plan.skipped.push_back({name, nih::split_name(split), "not on disk under " + s.input});
      }
    }
  }
  std::sort(candidates.begin(), candidates.end());
  if (s.limit > 0 && candidates.size() > static_cast<std::size_t>(s.limit)) {
    plan.excluded_by_limit = candidates.size() - static_cast<std::size_t>(s.limit);
    candidates.resize(static_cast<std::size_t>(s.limit));
  }

  // Cut each split (in name order) into shards.
  std::map<int, std::vector<PlannedImage>> per_split;
  for (const auto& [name, split] : candidates) {
    const nih::Record& r = *meta.find(name);
    const std::string& path = files.at(name);
    per_split[static_cast<int>(split)].push_back(
        {path, fs::file_size(path), {r.image, r.patient_id, r.labels, r.view, r.sex, r.age, r.follow_up}});
  }
  std::string all_digests = fmt::format("format={} size={} gzip={} shard={} mode={} val={} seed={} limit={}\n",
                                        shards::kFormatVersion, s.image_size, s.gzip_level, s.shard_size, s.split.mode,
                                        s.split.val_fraction, s.split.seed, s.limit);
  for (auto& [split_id, images] : per_split) {
    const std::string split = nih::split_name(static_cast<nih::Split>(split_id));
    for (std::size_t first = 0, index = 0; first < images.size(); first += static_cast<std::size_t>(s.shard_size), ++index) {
      PlannedShard shard;
      shard.split = split;
      shard.index = static_cast<int>(index);
      shard.file = fmt::format("{}/shard-{:05d}.h5", split, index);
      const std::size_t last = std::min(images.size(), first + static_cast<std::size_t>(s.shard_size));
      shard.images.assign(images.begin() + static_cast<std::ptrdiff_t>(first), images.begin() + static_cast<std::ptrdiff_t>(last));
      std::string key = fmt::format("format={} size={} gzip={} split={}\n", shards::kFormatVersion, s.image_size,
                                    s.gzip_level, split);
      if (obfuscated_split(s, split))  // (clean shards keep the digest they always had)
        key += fmt::format("obfuscated copies={} mean={} sigma={}\n", s.obfuscate_copies, s.noise_mean, s.noise_sigma);
      for (const auto& img : shard.images) {
        const auto& x = img.sample;
        key += fmt::format("{} {} {} {} {} {} {} {}\n", x.image, img.bytes, x.patient_id, x.labels, x.view, x.sex, x.age,
                           x.follow_up);
      }
      shard.digest = sha256_hex(key);
      all_digests += shard.file + " " + shard.digest + "\n";
      plan.shards.push_back(std::move(shard));
    }
  }
  std::sort(plan.skipped.begin(), plan.skipped.end(),
            [](const PlannedSkip& a, const PlannedSkip& b) { return a.image < b.image; });
  plan.digest = sha256_hex(all_digests);
  return plan;
}

void to_json(nlohmann::json& j, const PlannedImage& image) {
  const auto& x = image.sample;
  j = {image.path, image.bytes, x.image, x.patient_id, x.labels, x.view, x.sex, x.age, x.follow_up};
}

void from_json(const nlohmann::json& j, PlannedImage& image) {
  image.path = j[0].get<std::string>();
  image.bytes = j[1].get<std::uint64_t>();
  image.sample = {j[2].get<std::string>(), j[3].get<std::int64_t>(), j[4].get<std::uint16_t>(), j[5].get<std::string>(),
                  j[6].get<std::string>(), j[7].get<std::int32_t>(), j[8].get<std::int32_t>()};
}

}  // namespace cxr::preprocess
