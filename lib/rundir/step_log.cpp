#include "rundir/step_log.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace cxr::rundir {
namespace {

using nlohmann::json;

// The step line's numbers, by key: one table for the writer and the reader.
const std::pair<const char*, double StepRecord::*> kStepNumbers[] = {
    {"loss", &StepRecord::loss},           {"local_loss", &StepRecord::local_loss}, {"lr", &StepRecord::lr},
    {"data_s", &StepRecord::data_s},       {"compute_s", &StepRecord::compute_s},   {"comm_s", &StepRecord::comm_s},
    {"optim_s", &StepRecord::optim_s},     {"step_s", &StepRecord::step_s},         {"images_per_s", &StepRecord::images_per_s},
    {"loader_s", &StepRecord::loader_s},   {"loss_scale", &StepRecord::loss_scale}, {"max_rss_mb", &StepRecord::max_rss_mb},
    {"peak_gpu_mb", &StepRecord::peak_gpu_mb}};

// JSON has no NaN: nlohmann writes it as null, so null reads back as NaN.
double number(const json& v) { return v.is_null() ? NAN : v.get<double>(); }
std::optional<double> optional_number(const json& v) { return v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()); }
json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(); }

StepRecord step_from(const json& j) {
  StepRecord r;
  r.step = j.at("step").get<std::int64_t>();
  r.epoch = j.at("epoch").get<std::int64_t>();
  r.skipped = j.at("skipped").get<bool>();
  for (const auto& [key, field] : kStepNumbers) {
    const bool added_later = !std::strcmp(key, "loader_s") || !std::strcmp(key, "loss_scale") || !std::strcmp(key, "max_rss_mb") ||
                             !std::strcmp(key, "peak_gpu_mb");
    if (j.contains(key) || !added_later) r.*field = number(j.at(key));  // logs of older versions lack those
  }
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
  for (const auto& [key, field] : kStepNumbers) j[key] = r.*field;
  return j.dump();
}

std::string to_line(const EpochRecord& r) {
  return json{{"event", "epoch"},        {"epoch", r.epoch},           {"train_loss", optional_json(r.train_loss)},
              {"val_loss", optional_json(r.val_loss)}, {"epoch_s", r.epoch_s}, {"global_step", r.global_step},
              {"buffer_checksum", r.buffer_checksum}}
      .dump();
}

std::string to_line(const BaselineRecord& r) { return json{{"event", "baseline"}, {"noisy_val_loss", r.noisy_val_loss}}.dump(); }

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
