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
#include <utility>
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
// With cxr-bench allreduce results, scaling families get the scaling model (add_scaling).
nlohmann::json make_summary(const std::vector<Run>& runs, const Groups& groups, const std::vector<nlohmann::json>& allreduce = {});

// A step-time spread, (p90 - p10) / median, above this marks a disturbed measurement.
constexpr double kDisturbed = 0.25;

std::string render_csv(const std::vector<Run>& runs, const Groups& groups);
std::string render_markdown(const std::vector<Run>& runs, const Groups& groups, const nlohmann::json& summary);

// The scaling sections (report/scaling.cpp). Runs that differ only in rank count form a family,
// weak (same batch per rank) or strong (same global batch), measured against its fewest ranks
// from median step times. Given cxr-bench allreduce results (cxr-reduce --allreduce), the scaling
// model (lib/scaling) is fitted to the family's fewest-ranks run and the network, and its
// prediction stands next to each measured point, with a projection to 1,024 ranks.
// summary["scaling"]: one entry per measured point; summary["scaling_model"]: one per family
// with the model's inputs and projection (empty without allreduce results).
void add_scaling(const std::vector<Run>& runs, const std::vector<nlohmann::json>& allreduce, nlohmann::json& summary);
std::string scaling_markdown(const nlohmann::json& summary);

// The privacy section (report/privacy.cpp, docs/PRIVACY.md), per noise sigma:
//   the noise in plain words   the obfuscated image's PSNR and RMS error against the clean one
//   de-obfuscation             what each run's model recovers (PSNR / SSIM against the clean
//                              image), and whether it trained on clean or only noisy targets
//   re-identification          top-1 / top-5 match rates of clean, obfuscated and denoised
//                              queries (cxr-eval's match-NNNNN.csv) against (a) a gallery of clean
//                              images holding the query's original and (b) a gallery of the other
//                              studies of all patients, with 95 % CIs and the chance rates
// summary["privacy"]: {"deobfuscation": [...], "reidentification": [...]}; empty lists when no
// run has match results.
void add_privacy(const std::vector<Run>& runs, const Groups& groups, nlohmann::json& summary);
std::string privacy_markdown(const nlohmann::json& summary);
// gnuplot data (privacy.dat) and the script lines that plot it into privacy.png; both empty
// when there is nothing to plot.
std::pair<std::string, std::string> privacy_plot(const nlohmann::json& summary);

}  // namespace cxr::report
