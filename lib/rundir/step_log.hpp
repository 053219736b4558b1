#pragma once
// A run's training log, RUN/logs/rank-NNNNN.jsonl: one JSON object a line, appended by each
// rank of cxr-train (a resumed run goes on in the same file), read by cxr-reduce. This module is
// its one reader and writer. Four kinds of line:
//   {"step": ...}             one per optimizer step                        StepRecord
//   {"event": "epoch", ...}   one per epoch                                 EpochRecord
//   {"event": "baseline", ..} before training: the noisy input's val L1   BaselineRecord
//   {"event": "setup", ...}   at every (re)start: what a scaling model needs  SetupRecord
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxr::rundir {

// An optional number as JSON: null when there is none (the epoch line's losses; the reducer's curves).
inline nlohmann::json optional_json(std::optional<double> v) { return v ? nlohmann::json(*v) : nullptr; }

struct StepRecord {
  std::int64_t step = 0;   // global step, counted from 1
  std::int64_t epoch = 0;  // counted from 1
  double loss = 0;         // the mean over ranks; NaN (JSON null) on a non-finite step
  double local_loss = 0;   // this rank's
  double lr = 0;
  // This step's phases in seconds, on the device's clock (dist::Timeline): data wait (host), then
  // forward, backward, the gradient all-reduce's exposed part (what the step still waited for
  // once backward had finished) and the optimizer; compute_s = forward_s + backward_s.
  double data_s = 0, forward_s = 0, backward_s = 0, compute_s = 0, comm_exposed_s = 0, optim_s = 0, step_s = 0;
  double comm_wire_s = 0;  // the all-reduce's time on the wire: while any gradient bucket was in flight
  double comm_bytes = 0;   // gradient bytes all-reduced this step (0 on one rank)
  double images_per_s = 0;  // every rank's images together
  double loader_s = 0;      // what the background loader spent on this batch
  bool skipped = false;     // non-finite: no optimizer step
  double loss_scale = 1;
  double max_rss_mb = 0, peak_gpu_mb = 0;
};

struct EpochRecord {
  std::int64_t epoch = 0;  // counted from 1
  std::optional<double> train_loss;  // none when no step of the epoch was finite
  std::optional<double> val_loss;    // none without validation (older logs wrote -1)
  double epoch_s = 0;
  std::int64_t global_step = 0;
  double buffer_checksum = 0;  // batch norm buffers: equal on every rank
};

struct BaselineRecord {
  double noisy_val_loss = 0;  // the floor a denoiser must beat
};

struct SetupRecord {
  std::int64_t ranks = 0;         // this job's
  std::int64_t threads = 0;       // this rank's intra-op threads
  std::int64_t cpus = 0;          // the CPUs this rank's process may run on (its affinity mask)
  std::int64_t sharing_cpus = 0;  // ranks of this node with the same mask, this one included
  std::vector<double> bucket_bytes;         // the gradient buckets, in all-reduce order
};

// One line each, without the newline.
std::string to_line(const StepRecord& record);
std::string to_line(const EpochRecord& record);
std::string to_line(const BaselineRecord& record);
std::string to_line(const SetupRecord& record);

struct StepLog {
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  std::vector<BaselineRecord> baselines;
  std::vector<SetupRecord> setups;  // one per start of the trainer
};
// `source` (the file's path) names the file in errors: InputError "source:line: ...".
StepLog parse_step_log(const std::string& text, const std::string& source);

std::filesystem::path step_log_path(const std::string& run_dir, int rank);

}  // namespace cxr::rundir
