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

  // Images that exist, in name order across splits; --limit keeps the first N of them.
  struct Candidate {
    std::string name;
    nih::Split split;
  };
  std::vector<Candidate> candidates;
  for (nih::Split split : nih::kSplits) {
    for (const auto& name : assignment[split]) {
      if (files.count(name)) {
        candidates.push_back({name, split});
      } else {
        plan.skipped.push_back({name, nih::split_name(split), "not on disk under " + s.input});
      }
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.name < b.name; });
  if (s.limit > 0 && candidates.size() > static_cast<std::size_t>(s.limit)) {
    plan.excluded_by_limit = candidates.size() - static_cast<std::size_t>(s.limit);
    candidates.resize(static_cast<std::size_t>(s.limit));
  }

  // Cut each split (in name order) into shards.
  std::map<int, std::vector<PlannedImage>> per_split;
  for (const auto& c : candidates) {
    const nih::Record& r = *meta.find(c.name);
    PlannedImage img;
    img.path = files.at(c.name);
    img.bytes = fs::file_size(img.path);
    img.sample = {r.image, r.patient_id, r.labels, r.view, r.sex, r.age, r.follow_up};
    per_split[static_cast<int>(c.split)].push_back(std::move(img));
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

nlohmann::json to_json(const Plan& plan) {
  using nlohmann::json;
  json j;
  j["digest"] = plan.digest;
  j["warnings"] = plan.warnings;
  j["metadata_format"] = plan.metadata_format;
  j["metadata_rows"] = plan.metadata_rows;
  j["metadata_patients"] = plan.metadata_patients;
  j["listed"] = plan.listed;
  j["excluded_by_limit"] = plan.excluded_by_limit;
  j["unlisted_on_disk"] = plan.unlisted_on_disk;
  j["skipped"] = json::array();
  for (const auto& k : plan.skipped) j["skipped"].push_back({{"image", k.image}, {"split", k.split}, {"reason", k.reason}});
  j["shards"] = json::array();
  for (const auto& sh : plan.shards) {
    json images = json::array();
    for (const auto& img : sh.images) {
      const auto& x = img.sample;
      images.push_back({img.path, img.bytes, x.image, x.patient_id, x.labels, x.view, x.sex, x.age, x.follow_up});
    }
    j["shards"].push_back({{"split", sh.split}, {"index", sh.index}, {"file", sh.file}, {"digest", sh.digest}, {"images", images}});
  }
  return j;
}

Plan plan_from_json(const nlohmann::json& j) {
  Plan plan;
  plan.digest = j.at("digest").get<std::string>();
  plan.warnings = j.at("warnings").get<std::vector<std::string>>();
  plan.metadata_format = j.at("metadata_format").get<std::string>();
  plan.metadata_rows = j.at("metadata_rows").get<std::size_t>();
  plan.metadata_patients = j.at("metadata_patients").get<std::size_t>();
  plan.listed = j.at("listed").get<std::size_t>();
  plan.excluded_by_limit = j.at("excluded_by_limit").get<std::size_t>();
  plan.unlisted_on_disk = j.at("unlisted_on_disk").get<std::size_t>();
  for (const auto& k : j.at("skipped")) plan.skipped.push_back({k.at("image"), k.at("split"), k.at("reason")});
  for (const auto& js : j.at("shards")) {
    PlannedShard sh;
    sh.split = js.at("split").get<std::string>();
    sh.index = js.at("index").get<int>();
    sh.file = js.at("file").get<std::string>();
    sh.digest = js.at("digest").get<std::string>();
    for (const auto& ji : js.at("images")) {
      PlannedImage img;
      img.path = ji[0].get<std::string>();
      img.bytes = ji[1].get<std::uint64_t>();
      img.sample = {ji[2].get<std::string>(), ji[3].get<std::int64_t>(), ji[4].get<std::uint16_t>(), ji[5].get<std::string>(),
                    ji[6].get<std::string>(), ji[7].get<std::int32_t>(), ji[8].get<std::int32_t>()};
      sh.images.push_back(std::move(img));
    }
    plan.shards.push_back(std::move(sh));
  }
  return plan;
}

}  // namespace cxr::preprocess
