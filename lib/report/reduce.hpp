#pragma once
// cxr-reduce: the evaluation results and training logs of one or more runs, reduced into
// summary.csv, summary.json, summary.md and PNG plots, in three stages usable alone:
//   ingest      each run's config, eval/meta.json, typed rows and logs; completeness checked
//   statistics  per (run, sigma, method) groups, then the summary document (summary.json):
//               paired comparisons, PSNR per finding and view, training, scaling
//   rendering   the CSV, Markdown and gnuplot views of them
// Under mpirun the ranks read the CSV files in parallel (dealt round-robin); rank 0 does the rest.
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/schema.hpp"
#include "dist/world.hpp"
#include "report/stats.hpp"
#include "rundir/eval_results.hpp"
#include "rundir/step_log.hpp"

namespace cxr::report {

struct ReduceOptions {
  std::vector<std::string> runs;  // run directories, or cxr-eval --out folders
  std::string out_dir;
  bool plots = true;
  bool training_only = false;  // runs without cxr-eval results (scaling studies): training logs only
  std::vector<std::string> allreduce;  // cxr-bench allreduce --json files: the scaling model's network
  double timeout_s = 600;      // dist.timeout_s: the longest wait in any collective
};

// Collective. Missing or malformed rank files, NaN values and incomplete evaluations are
// InputErrors naming the file (and line).
int run_reduce(dist::World& world, const ReduceOptions& options);

struct Run {
  std::string dir, name;  // name: the directory's last component
  config::Config config{config::project_schema()};
  std::optional<rundir::EvalMeta> meta;  // none with --training-only
  std::vector<rundir::EvalRow> rows;     // sorted by image, sigma, method
  std::vector<rundir::MatchRow> matches;  // the re-identification queries, sorted by image, sigma, query
  std::vector<rundir::StepLog> logs;     // one per rank of the training
};
// Sorts the rows, checks that every (image, sigma, method) and every re-identification query is
// there exactly once, reads the logs.
void complete_run(Run& run);

struct Group {                                       // one (run, sigma, method)
  std::vector<std::string> images;                   // in name order: groups pair image by image
  std::vector<std::int64_t> patients;                // each image's patient: the independent units
  std::map<std::string, std::vector<double>> values;  // per metric
  std::map<std::string, Summary> summaries;           // per metric; LPIPS where every image has it
};
using Groups = std::map<std::tuple<std::size_t, double, std::string>, Group>;  // (run index, sigma, method)
Groups make_groups(const std::vector<Run>& runs);
// With cxr-bench allreduce results, scaling families get the scaling model (report/scaling.hpp).
nlohmann::json make_summary(const std::vector<Run>& runs, const Groups& groups, const std::vector<nlohmann::json>& allreduce = {});

// A step-time spread, (p90 - p10) / median, above this marks a disturbed measurement.
constexpr double kDisturbed = 0.25;

std::string render_csv(const std::vector<Run>& runs, const Groups& groups);
std::string render_markdown(const std::vector<Run>& runs, const Groups& groups, const nlohmann::json& summary);

}  // namespace cxr::report
