#include "rundir/step_log.hpp"

#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "common/error.hpp"

namespace cxr::rundir {
namespace {

using nlohmann::json;

// The step line's numbers, by key: one table for the writer and the reader. Keys added after
// the first release are optional when read (older logs lack them); comm_exposed_s was comm_s.
struct StepNumber {
  const char* key;
  double StepRecord::*field;
  bool since_first = true;
};
const StepNumber kStepNumbers[] = {
    {"loss", &StepRecord::loss},           {"local_loss", &StepRecord::local_loss},         {"lr", &StepRecord::lr},
    {"data_s", &StepRecord::data_s},       {"compute_s", &StepRecord::compute_s},           {"optim_s", &StepRecord::optim_s},
    {"step_s", &StepRecord::step_s},       {"images_per_s", &StepRecord::images_per_s},     {"loader_s", &StepRecord::loader_s, false},
    {"loss_scale", &StepRecord::loss_scale, false}, {"max_rss_mb", &StepRecord::max_rss_mb, false},
    {"peak_gpu_mb", &StepRecord::peak_gpu_mb, false}, {"forward_s", &StepRecord::forward_s, false},
    {"backward_s", &StepRecord::backward_s, false}, {"comm_exposed_s", &StepRecord::comm_exposed_s, false},
    {"comm_wire_s", &StepRecord::comm_wire_s, false}, {"comm_bytes", &StepRecord::comm_bytes, false}};

// JSON has no NaN: nlohmann writes it as null, so null reads back as NaN.
double number(const json& v) { return v.is_null() ? NAN : v.get<double>(); }
std::optional<double> optional_number(const json& v) { return v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()); }

StepRecord step_from(const json& j) {
  StepRecord r;
  r.step = j.at("step").get<std::int64_t>();
  r.epoch = j.at("epoch").get<std::int64_t>();
  r.skipped = j.at("skipped").get<bool>();
  for (const auto& [key, field, since_first] : kStepNumbers)
    if (since_first || j.contains(key)) r.*field = number(j.at(key));
  if (!j.contains("comm_exposed_s") && j.contains("comm_s")) r.comm_exposed_s = number(j.at("comm_s"));  // its older name
  return r;
}

EpochRecord epoch_from(const json& j) {
  EpochRecord r{j.at("epoch").get<std::int64_t>(), optional_number(j.at("train_loss")), optional_number(j.at("val_loss")),
                number(j.at("epoch_s")), j.at("global_step").get<std::int64_t>(), number(j.value("buffer_checksum", json(0.0)))};
  if (r.val_loss && *r.val_loss < 0) r.val_loss.reset();  // older logs wrote -1 for "no validation"
  return r;
}

}  // namespace

std::string to_line(const StepRecord& r) {
  json j = {{"step", r.step}, {"epoch", r.epoch}, {"skipped", r.skipped}};
  for (const auto& n : kStepNumbers) j[n.key] = r.*n.field;
  return j.dump();
}

std::string to_line(const EpochRecord& r) {
  return json{{"event", "epoch"},        {"epoch", r.epoch},           {"train_loss", optional_json(r.train_loss)},
              {"val_loss", optional_json(r.val_loss)}, {"epoch_s", r.epoch_s}, {"global_step", r.global_step},
              {"buffer_checksum", r.buffer_checksum}}
      .dump();
}

std::string to_line(const BaselineRecord& r) { return json{{"event", "baseline"}, {"noisy_val_loss", r.noisy_val_loss}}.dump(); }

std::string to_line(const SetupRecord& r) {
  return json{{"event", "setup"}, {"ranks", r.ranks}, {"threads", r.threads}, {"cpus", r.cpus}, {"sharing_cpus", r.sharing_cpus},
              {"bucket_bytes", r.bucket_bytes}}
      .dump();
}

StepLog parse_step_log(const std::string& text, const std::string& source) {
  StepLog log;
  std::istringstream in(text);
  std::string line;
  for (long no = 1; std::getline(in, line); ++no) {
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception&) {
      throw InputError(at_line(source, no, "not a JSON line"));
    }
    try {
      const std::string event = j.is_object() ? j.value("event", "") : "";
      if (event.empty()) log.steps.push_back(step_from(j));
      else if (event == "epoch") log.epochs.push_back(epoch_from(j));
      else if (event == "baseline") log.baselines.push_back({number(j.at("noisy_val_loss"))});
      else if (event == "setup")
        log.setups.push_back({j.at("ranks").get<std::int64_t>(), j.at("threads").get<std::int64_t>(), j.at("cpus").get<std::int64_t>(),
                              j.at("sharing_cpus").get<std::int64_t>(), j.at("bucket_bytes").get<std::vector<double>>()});
      else throw InputError(at_line(source, no, "unknown event '" + event + "'"));
    } catch (const json::exception& e) {
      throw InputError(at_line(source, no, e.what()));
    }
  }
  return log;
}

std::filesystem::path step_log_path(const std::string& run_dir, int rank) {
  return std::filesystem::path(run_dir) / "logs" / fmt::format("rank-{:05d}.jsonl", rank);
}

}  // namespace cxr::rundir
