#include "preprocess/job.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/test_hooks.hpp"
#include "noise/export_noise.hpp"
#include "random/keyed.hpp"
#include "shards/manifest.hpp"
#include "common/files.hpp"
#include "common/progress.hpp"
#include "common/tool.hpp"
#include "image/image.hpp"
#include "preprocess/plan.hpp"

namespace cxr::preprocess {
namespace {

using nlohmann::json;

PlanOptions plan_options_from(const JobOptions& o) {
  const config::Config& c = *o.config;
  PlanOptions s;
  s.input = o.input;
  s.image_size = static_cast<int>(c.get_int("preprocess.image_size"));
  s.shard_size = static_cast<int>(c.get_int("preprocess.shard_size"));
  s.limit = c.get_int("preprocess.limit");
  s.gzip_level = static_cast<int>(c.get_int("preprocess.gzip_level"));
  s.split.mode = c.get_string("split.mode");
  s.split.val_fraction = c.get_float("split.val_fraction");
  s.split.image_train_fraction = c.get_float("split.image_train_fraction");
  s.split.image_val_fraction = c.get_float("split.image_val_fraction");
  s.split.seed = static_cast<std::uint64_t>(c.get_int("seed"));
  s.obfuscate_copies = o.obfuscate;
  s.noise_mean = c.get_float("noise.mean");
  s.noise_sigma = c.get_float("noise.sigma");
  if (o.obfuscate > 0 && !c.get_bool("noise.clip"))
    throw InputError("--obfuscate stores noisy images in [0, 1]: noise.clip must be true");
  if (s.split.image_train_fraction + s.split.image_val_fraction > 1.0)
    throw InputError("split.image_train_fraction + split.image_val_fraction must not exceed 1");
  resolve_inputs(s, c.get_string("input.metadata"), c.get_string("input.train_val_list"), c.get_string("input.test_list"));
  return s;
}

// Rank 0's half of planning: the plan, or the reason there is none.
json plan_on_root(const JobOptions& o) {
  try {
    const PlanOptions options = plan_options_from(o);
    Plan plan = make_plan(options);
    ensure_writable_directory(o.output);  // after planning: bad input leaves no empty directory behind
    const std::string manifest = shards::manifest_path(o.output);
    if (fs::exists(manifest) && !o.force) {
      std::string old_digest;
      try {
        old_digest = shards::read_manifest(o.output).plan_digest;
      } catch (const InputError& e) {
        throw InputError(std::string(e.what()) + "; pass --force to rebuild the dataset");
      }
      if (old_digest != plan.digest)
        throw InputError(o.output + " already holds a dataset made from other inputs or settings (" + manifest +
                         " has another plan digest). Pass --force to replace it, or choose another --output.");
    }
    return json{{"plan", plan}};
  } catch (const InputError& e) {
    return json{{"error", e.what()}};
  } catch (const fs::filesystem_error& e) {
    return json{{"error", e.what()}};
  }
}

// Writes one shard (or keeps a complete one), adds the images it decoded to `decoded` and returns
// what the manifest says about the shard. Throws RuntimeError on I/O failure.
json write_shard(const PlannedShard& shard, const PlanOptions& s, const JobOptions& o, const noise::ExportKey& key,
                 Progress& progress, std::size_t& decoded) {
  const fs::path final_path = fs::path(o.output) / shard.file;
  fs::create_directories(final_path.parent_path());
  const auto t0 = std::chrono::steady_clock::now();
  const bool reused =
      !o.force && fs::exists(final_path) && shards::shard_is_complete(final_path.string(), shard.digest);
  if (reused) {
    progress.advance(static_cast<std::int64_t>(shard.images.size()));
  } else {
    const fs::path tmp = temporary_path_for(final_path);
    try {
      const int copies = obfuscated_split(s, shard.split) ? s.obfuscate_copies : 0;
      shards::ShardWriter writer(tmp.string(), {shard.split, s.image_size, shard.images.size(), s.gzip_level, shard.digest, copies});
      std::vector<std::uint16_t> noisy(static_cast<std::size_t>(copies) * s.image_size * s.image_size);
      // Test hook: slows each image so a test can kill the job mid-run at a known point.
      const int delay_ms = test_hooks().image_delay_ms;
      for (const auto& img : shard.images) {
        if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        try {
          const image::Gray8 small =
              image::resize_bicubic(image::read_png(img.path), s.image_size, s.image_size);
          if (copies == 0) {
            writer.append(small.pixels.data(), img.sample);
          } else {  // the clean pixels never reach the file
            noise::obfuscated_copies(small.pixels.data(), small.pixels.size(), key, rng::image_id(img.sample.image), copies,
                                     {s.noise_mean, s.noise_sigma}, noisy.data());
            writer.append_noisy(noisy.data(), img.sample);
          }
          ++decoded;
        } catch (const image::DecodeError& e) {
          writer.add_skipped(img.sample.image, std::string("cannot decode ") + img.path + ": " + e.what());
        }
        progress.advance();
      }
      writer.close();
      commit_file(tmp, final_path);
    } catch (...) {
      std::error_code ec;
      fs::remove(tmp, ec);  // a half-written shard never stays behind
      throw;
    }
  }
  // Read back what is on disk: the manifest describes the file, not our intentions.
  const shards::ShardReader reader(final_path.string());
  const auto& info = reader.info();
  std::vector<PlannedSkip> skipped;
  for (std::size_t i = 0; i < info.skipped_image.size(); ++i)
    skipped.push_back({info.skipped_image[i], shard.split, info.skipped_reason[i]});
  std::set<std::int64_t> patients;
  for (const auto& x : info.samples) patients.insert(x.patient_id);
  return {{"file", shard.file},
          {"split", shard.split},
          {"index", shard.index},
          {"count", info.count},
          {"planned", shard.images.size()},
          {"digest", shard.digest},
          {"sha256", sha256_file(final_path)},
          {"bytes", fs::file_size(final_path)},
          {"reused", reused},
          {"patients", patients},
          {"skipped", skipped},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Rank 0: the manifest from every rank's shard records.
shards::Manifest build_manifest(const Plan& plan, const JobOptions& o, const std::vector<json>& records, const json& per_rank,
                                double plan_s, double write_s) {
  std::size_t decoded = 0;  // images decoded in this run (reused shards excluded), for the rate
  for (const auto& r : per_rank) decoded += r["decoded"].get<std::size_t>();
  shards::Manifest m;
  m.plan_digest = plan.digest;
  json skipped = plan.skipped;
  std::size_t written = 0;
  std::map<std::string, std::set<std::int64_t>> patients;
  for (const auto& r : records) {
    const std::string split = r["split"];
    m.splits[split].shards.push_back(r.get<shards::ManifestShard>());
    m.splits[split].images += r["count"].get<std::size_t>();
    written += r["count"].get<std::size_t>();
    for (const auto& p : r["patients"]) patients[split].insert(p.get<std::int64_t>());
    for (const auto& k : r["skipped"]) skipped.push_back(k);
  }
  for (auto& [name, split] : m.splits) split.patients = patients[name].size();
  const PlanOptions s = plan_options_from(o);
  std::sort(skipped.begin(), skipped.end(), [](const json& a, const json& b) { return a["image"] < b["image"]; });
  m.details = {{"format_version", shards::kFormatVersion},
               {"tool", version_string()},
               {"created_utc", utc_now()},
               {"input", fs::absolute(o.input).string()},
               {"config", o.config->to_json()},
               {"metadata", {{"format", plan.metadata_format}, {"rows", plan.metadata_rows}, {"patients", plan.metadata_patients}}},
               {"totals",
                {{"listed", plan.listed},
                 {"written", written},
                 {"skipped", skipped.size()},
                 {"excluded_by_limit", plan.excluded_by_limit},
                 {"unlisted_on_disk", plan.unlisted_on_disk}}},
               {"skipped", skipped},
               {"warnings", plan.warnings},
               {"timings",
                {{"ranks", per_rank.size()},
                 {"plan_s", plan_s},
                 {"write_s", write_s},
                 {"total_s", plan_s + write_s},
                 {"decoded", decoded},
                 {"images_per_s", write_s > 0 ? static_cast<double>(decoded) / write_s : 0.0},
                 {"per_rank", per_rank}}}};
  if (s.obfuscate_copies > 0)
    m.details["obfuscation"] = {
        {"obfuscated_splits", {"train", "val"}},
        {"clean_splits", {"test"}},
        {"copies", s.obfuscate_copies},
        {"noise", {{"mean", s.noise_mean}, {"sigma", s.noise_sigma}, {"clip", {0.0, 1.0}}}},
        {"storage", "uint16: noisy value x 65535 (not re-quantised to 8 bits; 0 and 1 exact)"},
        {"key", "256 bits per writing rank, fresh from the OS, never stored: nobody can regenerate the noise"}};
  return m;
}

// Removes shard files of an earlier run that the new plan no longer has, and the temporary
// files of a killed run (every rank has finished by now, so none is being written).
void remove_stale_shards(const fs::path& output, const Plan& plan) {
  std::set<std::string> keep;
  for (const auto& sh : plan.shards) keep.insert((output / sh.file).lexically_normal().string());
  for (const char* split : {"train", "val", "test"}) {
    const fs::path dir = output / split;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("shard-", 0) == 0 && e.path().extension() == ".h5" && !keep.count(e.path().lexically_normal().string())) {
        spdlog::info("removing stale shard {}", e.path().string());
        fs::remove(e.path());
      } else if (name.rfind(".shard-", 0) == 0 && name.find(".tmp.") != std::string::npos) {
        spdlog::info("removing {}, left by a killed run", e.path().string());
        fs::remove(e.path());
      }
    }
  }
}

// Rank 0: the manifest from every rank's shard records, written last (atomically).
void write_manifest(const Plan& plan, const JobOptions& o, const std::vector<std::string>& gathered, double plan_s,
                    double write_s) {
  std::vector<json> records;
  json per_rank = json::array();
  for (const auto& g : gathered) {
    json r = json::parse(g);
    for (auto& rec : r["records"]) records.push_back(rec);
    r.erase("records");
    r["images_per_s"] = r["seconds"].get<double>() > 0 ? r["decoded"].get<double>() / r["seconds"].get<double>() : 0.0;
    per_rank.push_back(r);
  }
  std::sort(records.begin(), records.end(), [](const json& a, const json& b) {
    return a["split"] != b["split"] ? a["split"] < b["split"] : a["index"] < b["index"];
  });
  remove_stale_shards(o.output, plan);
  const shards::Manifest manifest = build_manifest(plan, o, records, per_rank, plan_s, write_s);
  shards::write_manifest(o.output, manifest);

  std::size_t reused = 0;
  for (const auto& r : records) reused += r["reused"].get<bool>() ? 1 : 0;
  spdlog::info("{} shards written, {} shards reused (complete from an earlier run)", records.size() - reused, reused);
  const auto images = [&](const char* split) { return manifest.splits.count(split) ? manifest.splits.at(split).images : 0; };
  spdlog::info("wrote {}: {} images (train {}, val {}, test {}), {} skipped, {:.1f} images/s over {} ranks",
               shards::manifest_path(o.output), manifest.details["totals"]["written"].get<std::size_t>(), images("train"),
               images("val"), images("test"), manifest.details["totals"]["skipped"].get<std::size_t>(),
               manifest.details["timings"]["images_per_s"].get<double>(), gathered.size());
}

}  // namespace

int run(dist::World& world, const JobOptions& o) {
  const double t_start = MPI_Wtime();
  // 1. Rank 0 plans; everyone receives the plan or the error.
  const json planned = json::parse(world.broadcast(world.is_root() ? plan_on_root(o).dump() : std::string()));
  if (planned.contains("error")) throw CollectiveError(planned.at("error").get<std::string>(), kExitUsage);
  const Plan plan = planned.at("plan").get<Plan>();
  const PlanOptions options = plan_options_from(o);  // cheap; every rank needs the numbers
  const double plan_s = MPI_Wtime() - t_start;
  if (world.is_root()) {
    for (const auto& w : plan.warnings) spdlog::warn("{}", w);
    std::size_t images = 0;
    for (const auto& sh : plan.shards) images += sh.images.size();
    spdlog::info("plan: {} images in {} shards over {} ranks ({} skipped before decoding), {:.2f} s", images,
                 plan.shards.size(), world.size(), plan.skipped.size(), plan_s);
  }

  // 2. Shards are dealt round-robin; each rank writes its own (no parallel HDF5 needed).
  std::vector<const PlannedShard*> mine;
  std::int64_t my_images = 0;
  for (std::size_t i = 0; i < plan.shards.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(world.size())) == world.rank()) {
      mine.push_back(&plan.shards[i]);
      my_images += static_cast<std::int64_t>(plan.shards[i].images.size());
    }
  Progress progress(world.size() > 1 ? "preprocess (rank 0's shards)" : "preprocess", my_images, world.is_root());
  json my_records = json::array();
  const double t_write = MPI_Wtime();
  std::size_t decoded = 0;
  const std::optional<dist::Failure> failure = dist::failure_in([&] {
    // An export's key: this rank's own, fresh from the OS, in memory only (noise/export_noise.hpp).
    const noise::ExportKey key = o.obfuscate > 0 ? noise::fresh_export_key() : noise::ExportKey{};
    for (const PlannedShard* sh : mine)
      my_records.push_back(write_shard(*sh, options, o, key, progress, decoded));
  });
  progress.finish();
  const double my_write_s = MPI_Wtime() - t_write;

  // 3. Agree on success (rank 0 prints every failing rank's message; no manifest then), gather
  //    the records, and rank 0 writes the manifest last while the others wait for its verdict.
  try {
    world.agree(failure);
  } catch (const CollectiveError&) {
    if (world.is_root())
      spdlog::error("{} not written: rerun the same command to finish (complete shards are kept)",
                    shards::manifest_path(o.output));
    throw;
  }
  json mine_summary = {{"rank", world.rank()}, {"host", world.host()}, {"shards", mine.size()},
                       {"images", my_images}, {"decoded", decoded}, {"seconds", my_write_s},
                       {"records", my_records}};
  const auto gathered = world.gather(mine_summary.dump());
  const double write_s = world.max(my_write_s);
  world.watchdog().set_context("rank 0 writing manifest.json");
  dist::all_or_none(world, [&] {
    if (world.is_root()) write_manifest(plan, o, gathered, plan_s, write_s);
  });
  return kExitOk;
}

}  // namespace cxr::preprocess
