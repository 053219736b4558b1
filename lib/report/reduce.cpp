#include "report/reduce.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "config/run_config.hpp"
#include "scaling/model.hpp"

namespace cxr::report {
namespace {

using nlohmann::json;
using rundir::EvalRow;
using rundir::MatchRow;
using rundir::StepRecord;

// The metrics every row has; LPIPS, which may be missing, is added where it is there.
const std::pair<const char*, double EvalRow::*> kMetrics[] = {
    {"psnr", &EvalRow::psnr}, {"ssim", &EvalRow::ssim}, {"ssim_3x3", &EvalRow::ssim_3x3}};

json to_json(const Summary& s) { return {{"n", s.n}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}}; }
std::string pm(const Summary& s, int digits) { return fmt::format("{:.{}f} ± {:.{}f}", s.mean, digits, s.ci95, digits); }

std::set<std::string> methods_of(const Groups& groups) {
  std::set<std::string> methods;
  for (const auto& group : groups) methods.insert(std::get<2>(group.first));
  return methods;
}

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) { to.insert(to.end(), from.begin(), from.end()); }

// Sorts rows by key; a repeated key (a row written twice) is an InputError from `twice(row)`.
template <class Row, class Key, class Message>
void sort_refusing_twins(std::vector<Row>& rows, Key key, Message twice) {
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return key(a) < key(b); });
  for (std::size_t i = 1; i < rows.size(); ++i)  // sorted: a repeated row is next to its twin
    if (key(rows[i]) == key(rows[i - 1])) throw InputError(twice(rows[i]));
}

// ---- Ingest.

// A run's per-rank result files: eval rows, and re-identification rows where cxr-eval made them.
struct ResultFile {
  std::string path;
  bool matches = false;  // eval/match-NNNNN.csv rather than eval/rank-NNNNN.csv
};
std::vector<ResultFile> result_files(const Run& run) {
  std::vector<ResultFile> files;
  for (int k = 0; run.meta && k < run.meta->ranks; ++k) {
    files.push_back({rundir::eval_results_path(run.dir, k).string(), false});
    if (run.meta->match_gallery > 0) files.push_back({rundir::match_results_path(run.dir, k).string(), true});
  }
  return files;
}

// The run's config.yaml and eval/meta.json, and that every rank's CSV is there (unread).
Run open_run(const std::string& dir, bool training_only) {
  Run run;
  run.dir = dir;
  const fs::path path = fs::path(dir).lexically_normal();
  run.name = (path.filename().empty() ? path.parent_path() : path).filename().string();
  if (!training_only) {
    const fs::path meta = rundir::eval_meta_path(dir);
    if (!fs::exists(meta)) throw InputError("run " + dir + " has no evaluation: " + meta.string() + " is missing (run cxr-eval first)");
    run.meta = rundir::parse_eval_meta(read_text_file(meta), meta.string());
    for (const auto& csv : result_files(run))
      if (!fs::exists(csv.path))
        throw InputError("run " + dir + ": " + csv.path + " is missing (evaluated with " + std::to_string(run.meta->ranks) + " ranks)");
  }
  run.config = config::load_run_config(dir);
  return run;
}

}  // namespace

void complete_run(Run& run) {
  sort_refusing_twins(run.rows, [](const EvalRow& r) { return std::tie(r.image, r.sigma, r.method); }, [&](const EvalRow& r) {
    return fmt::format("run {}: {}|{}|{} appears twice in its eval CSVs", run.dir, r.image, r.sigma, r.method);
  });
  if (const auto& m = run.meta; m && run.rows.size() != m->images * m->sigmas.size() * m->methods.size())
    throw InputError(fmt::format("run {}: {} evaluation rows, expected {} ({} images x {} sigmas x {} methods): an incomplete evaluation",
                                 run.dir, run.rows.size(), m->images * m->sigmas.size() * m->methods.size(), m->images,
                                 m->sigmas.size(), m->methods.size()));
  sort_refusing_twins(run.matches, [](const MatchRow& m) { return std::tie(m.image, m.sigma, m.query); }, [&](const MatchRow& m) {
    return fmt::format("run {}: the {} query of {} at sigma {} appears twice in its match CSVs", run.dir, m.query, m.image, m.sigma);
  });
  if (const auto& m = run.meta; m && m->match_gallery > 0) {
    // clean once, obfuscated per sigma, denoised per sigma where the model was evaluated
    const bool model = std::find(m->methods.begin(), m->methods.end(), "model") != m->methods.end();
    const std::size_t expected = m->images * (1 + m->sigmas.size() * (model ? 2 : 1));
    if (run.matches.size() != expected)
      throw InputError(fmt::format("run {}: {} re-identification rows, expected {}: an incomplete evaluation", run.dir,
                                   run.matches.size(), expected));
    for (const auto& row : run.matches)
      if (row.gallery != m->match_gallery || (row.query != "clean" && std::count(m->sigmas.begin(), m->sigmas.end(), row.sigma) == 0))
        throw InputError(fmt::format("run {}: the {} query of {} (sigma {}, gallery {}) does not belong to the evaluation in its "
                                     "meta.json (sigmas {}, gallery {})", run.dir, row.query, row.image, row.sigma, row.gallery,
                                     fmt::join(m->sigmas, ","), m->match_gallery));
  }
  std::vector<fs::path> logs;
  if (const fs::path dir = fs::path(run.dir) / "logs"; fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".jsonl") logs.push_back(e.path());
  std::sort(logs.begin(), logs.end());
  for (const auto& log : logs) run.logs.push_back(rundir::parse_step_log(read_text_file(log), log.string()));
}

// ---- Statistics.

namespace {

// The step time of a run as a scaling study should read it: the median over the steps after a
// warm-up (the first tenth, at least one: cuDNN autotuning, caches, the loader filling up), with
// its spread, (p90 - p10) / median; a spread above kDisturbed says the point shared its nodes or
// was otherwise disturbed and should be measured again.

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

// The step's phases (StepRecord), each the median over the timed steps.
const std::pair<const char*, double StepRecord::*> kPhases[] = {
    {"data_s", &StepRecord::data_s},           {"forward_s", &StepRecord::forward_s},
    {"backward_s", &StepRecord::backward_s},   {"compute_s", &StepRecord::compute_s},
    {"comm_wire_s", &StepRecord::comm_wire_s}, {"comm_exposed_s", &StepRecord::comm_exposed_s},
    {"optim_s", &StepRecord::optim_s},         {"loader_s", &StepRecord::loader_s}};

// Rank 0's timed steps: the medians above; the gradient all-reduce's overlap fraction,
// 1 - exposed / wire over all timed steps (the share of its time hidden behind backward), and
// the bus bandwidth it achieved, bytes / wire x 2(n-1)/n as nccl-tests defines busbw (median).
json step_time(const std::vector<StepRecord>& steps, std::int64_t global_batch, std::size_t ranks) {
  const std::size_t warmup = std::max<std::size_t>(1, steps.size() / 10);
  if (steps.size() <= warmup) return json::object();
  const std::vector<StepRecord> timed(steps.begin() + static_cast<std::ptrdiff_t>(warmup), steps.end());
  auto median = [&](double StepRecord::*field) {
    std::vector<double> v;
    for (const auto& s : timed) v.push_back(s.*field);
    return quantile(v, 0.5);
  };
  std::vector<double> step_s, busbw;
  double wire = 0, exposed = 0;
  const double n = static_cast<double>(ranks);
  for (const auto& s : timed) {
    step_s.push_back(s.step_s);
    wire += s.comm_wire_s;
    exposed += s.comm_exposed_s;
    if (s.comm_wire_s > 0 && s.comm_bytes > 0) busbw.push_back(s.comm_bytes / s.comm_wire_s * 2 * (n - 1) / n / 1e9);
  }
  const double step_median = quantile(step_s, 0.5), spread = (quantile(step_s, 0.9) - quantile(step_s, 0.1)) / step_median;
  json out = {{"warmup_steps", warmup}, {"timed_steps", timed.size()}, {"step_s_median", step_median}, {"step_s_spread", spread},
              {"disturbed", spread > kDisturbed}, {"images_per_s_median", static_cast<double>(global_batch) / step_median},
              {"comm_bytes", timed.back().comm_bytes},
              {"overlap", wire > 0 ? json(std::clamp(1 - exposed / wire, 0.0, 1.0)) : json()},
              {"busbw_gb_s", busbw.empty() ? json() : json(quantile(busbw, 0.5))}};
  for (const auto& [key, field] : kPhases) out[key] = median(field);
  return out;
}

// Rank 0's step times (above), its loss curve and epoch times; peak memory over every rank's.
json training_stats(const Run& run) {
  json out = {{"ranks", run.logs.size()}};
  if (run.logs.empty()) return out;
  const std::vector<StepRecord>& steps = run.logs.front().steps;
  out.update(step_time(steps, run.config.get_int("train.batch_size") * static_cast<std::int64_t>(run.logs.size()), run.logs.size()));
  double rss = 0, gpu = 0;
  for (const auto& log : run.logs)
    for (const auto& s : log.steps) rss = std::max(rss, s.max_rss_mb), gpu = std::max(gpu, s.peak_gpu_mb);
  std::vector<double> epoch_s;
  json curve = json::array();
  for (const auto& e : run.logs.front().epochs) {
    curve.push_back({{"epoch", e.epoch}, {"train_loss", rundir::optional_json(e.train_loss)},
                     {"val_loss", rundir::optional_json(e.val_loss)}});
    epoch_s.push_back(e.epoch_s);
  }
  out.update({{"epoch_s", summarize(epoch_s).mean}, {"epochs", curve.size()}, {"peak_rss_mb", rss}, {"peak_gpu_mb", gpu}, {"curve", curve}});
  return out;
}

json runs_json(const std::vector<Run>& runs) {
  json out = json::array();
  for (const auto& run : runs) {
    json entry = {{"run", run.name}, {"dir", run.dir}, {"training", training_stats(run)}, {"model", nullptr},
                  {"checkpoint_step", nullptr}, {"test_set_sha256", nullptr}, {"lpips", nullptr}, {"baselines", nullptr}};
    if (run.meta)
      entry.update({{"model", run.meta->model}, {"checkpoint_step", run.meta->global_step}, {"test_set_sha256", run.meta->test_set_sha256},
                    {"lpips", run.meta->lpips}, {"baselines", run.meta->baselines}});
    out.push_back(entry);
  }
  return out;
}

json groups_json(const std::vector<Run>& runs, const Groups& groups) {
  json out = json::array();
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    json entry = {{"run", runs[r].name}, {"model", runs[r].meta->model}, {"sigma", sigma}, {"method", method}, {"n", g.images.size()}};
    for (const auto& [metric, s] : g.summaries) entry[metric] = to_json(s);
    out.push_back(entry);
  }
  return out;
}

// On the same images: the model against every other method of its run, and runs against each
// other where they were evaluated on the same test set.
json paired_json(const std::vector<Run>& runs, const Groups& groups) {
  json out = json::array();
  auto add = [&](const std::string& a_name, const Group& a, const std::string& b_name, const Group& b, double sigma) {
    if (a.images != b.images) return false;
    json entry = {{"a", a_name}, {"b", b_name}, {"sigma", sigma}};
    for (const auto& [metric, field] : kMetrics) {
      const auto [pa, pb] = patient_means(a.values.at(metric), b.values.at(metric), a.patients);  // patients are the units
      const Paired p = compare_paired(pa, pb);
      entry[metric] = {{"n", p.n}, {"mean_diff", p.mean_diff}, {"t", p.t}, {"t_p", p.t_p}, {"cohens_dz", p.cohens_dz},
                       {"wilcoxon_z", p.wilcoxon_z}, {"wilcoxon_p", p.wilcoxon_p}, {"wilcoxon_r", p.wilcoxon_r}};
    }
    out.push_back(entry);
    return true;
  };
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    const auto model = groups.find({r, sigma, "model"});
    if (method != "model" && model != groups.end()) add(runs[r].name + ":model", model->second, runs[r].name + ":" + method, g, sigma);
  }
  for (std::size_t a = 0; a < runs.size(); ++a)
    for (std::size_t b = a + 1; b < runs.size(); ++b)
      for (const auto& [key, g] : groups) {
        const auto other = groups.find({b, std::get<1>(key), "model"});
        if (std::get<0>(key) != a || std::get<2>(key) != "model" || other == groups.end()) continue;
        if (runs[a].meta->test_set_sha256 != runs[b].meta->test_set_sha256 ||
            !add(runs[a].name + ":model", g, runs[b].name + ":model", other->second, std::get<1>(key)))
          spdlog::warn("runs {} and {} were evaluated on different test sets: not compared image by image", runs[a].name, runs[b].name);
      }
  return out;
}

// The model's PSNR per finding label and per view.
void add_subsets(const std::vector<Run>& runs, json& summary) {
  using Values = std::pair<std::vector<double>, std::vector<std::int64_t>>;  // PSNR and patient per image
  std::map<std::tuple<std::size_t, double, std::string>, Values> by_label, by_view;
  auto add = [](Values& v, const rundir::EvalRow& row) { v.first.push_back(row.psnr), v.second.push_back(row.patient); };
  for (std::size_t r = 0; r < runs.size(); ++r)
    for (const auto& row : runs[r].rows) {
      if (row.method != "model") continue;
      add(by_view[{r, row.sigma, row.view}], row);
      std::istringstream labels(row.labels);
      for (std::string label; std::getline(labels, label, '|');) add(by_label[{r, row.sigma, label}], row);
    }
  auto entries = [&](const auto& subsets, const char* kind) {
    json out = json::array();
    for (const auto& [key, values] : subsets) {
      const Summary s = summarize_by_patient(values.first, values.second);
      out.push_back({{"run", runs[std::get<0>(key)].name}, {"sigma", std::get<1>(key)}, {kind, std::get<2>(key)}, {"n", s.n},
                     {"psnr_mean", s.mean}, {"psnr_ci95", s.ci95}});
    }
    return out;
  };
  summary["by_label"] = entries(by_label, "label");
  summary["by_view"] = entries(by_view, "view");
}

}  // namespace

Groups make_groups(const std::vector<Run>& runs) {
  Groups groups;
  for (std::size_t r = 0; r < runs.size(); ++r)
    for (const auto& row : runs[r].rows) {
      Group& g = groups[{r, row.sigma, row.method}];
      g.images.push_back(row.image);
      g.patients.push_back(row.patient);
      for (const auto& [metric, field] : kMetrics) g.values[metric].push_back(row.*field);
      if (row.lpips) g.values["lpips"].push_back(*row.lpips);
    }
  for (auto& [key, g] : groups)
    for (const auto& [metric, values] : g.values)
      if (metric != "lpips" || values.size() == g.images.size()) g.summaries[metric] = summarize_by_patient(values, g.patients);
  return groups;
}

json make_summary(const std::vector<Run>& runs, const Groups& groups, const std::vector<json>& allreduce) {
  json summary = {{"runs", runs_json(runs)}, {"groups", groups_json(runs, groups)}, {"paired", paired_json(runs, groups)}};
  add_subsets(runs, summary);
  add_scaling(runs, allreduce, summary);
  add_privacy(runs, groups, summary);
  return summary;
}

// ---- Rendering.

namespace {

// The reference study's table shape: a row per run and sigma, a column per method.
std::string quality_table(const std::vector<Run>& runs, const Groups& groups) {
  const std::set<std::string> methods = methods_of(groups);
  std::string md = "| run | sigma | n |";
  for (const auto& m : methods) md += " " + m + " |";
  md += "\n|---|---|---|";
  for (std::size_t i = 0; i < methods.size(); ++i) md += "---|";
  md += "\n";
  std::set<std::pair<std::size_t, double>> rows_done;
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    if (!rows_done.insert({r, sigma}).second) continue;
    md += fmt::format("| {} | {} | {} |", runs[r].name, sigma, g.images.size());
    for (const auto& m : methods) {
      if (const auto it = groups.find({r, sigma, m}); it != groups.end()) {
        const auto& s = it->second.summaries;
        md += fmt::format(" {} / {} / {}", pm(s.at("psnr"), 2), pm(s.at("ssim"), 4), pm(s.at("ssim_3x3"), 4));
        if (s.count("lpips")) md += " / " + pm(s.at("lpips"), 4);
      }
      md += " |";
    }
    md += "\n";
  }
  return md;
}

std::string training_table(const json& runs_entries) {
  std::string md =
      "\n## Training\n\nMedians over each run's timed steps (after the warm-up), rank 0, seconds. *wire*: the gradient all-reduce's "
      "time in flight; *exposed*: what the step still waited for after backward; *overlap* = 1 - exposed / wire; *busbw*: the "
      "all-reduce's bus bandwidth, bytes / wire x 2(n-1)/n (docs/ADMIN_GUIDE.md reads them).\n\n"
      "| run | ranks | epochs | epoch s | images/s | data | forward | backward | comm wire | comm exposed | overlap | busbw GB/s "
      "| optimizer | peak RSS MB | peak GPU MB | best val L1 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  auto or_na = [](const json& v, const char* format) { return v.is_null() ? std::string("n/a") : fmt::format(fmt::runtime(format), v.get<double>()); };
  for (const auto& run : runs_entries) {
    const json& t = run["training"];
    if (t["ranks"].get<std::size_t>() == 0 || !t.contains("step_s_median")) continue;
    double best = INFINITY;
    for (const auto& e : t["curve"])
      if (!e["val_loss"].is_null()) best = std::min(best, e["val_loss"].get<double>());
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.2f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {} | {} | {:.4f} | {:.0f} | {:.0f} | {} |\n",
                      run["run"].get<std::string>(), t["ranks"].get<std::size_t>(), t["epochs"].get<std::size_t>(),
                      t["epoch_s"].get<double>(), t["images_per_s_median"].get<double>(), t["data_s"].get<double>(),
                      t["forward_s"].get<double>(), t["backward_s"].get<double>(), t["comm_wire_s"].get<double>(),
                      t["comm_exposed_s"].get<double>(), or_na(t["overlap"], "{:.2f}"), or_na(t["busbw_gb_s"], "{:.3f}"),
                      t["optim_s"].get<double>(), t["peak_rss_mb"].get<double>(), t["peak_gpu_mb"].get<double>(),
                      std::isinf(best) ? std::string("n/a") : fmt::format("{:.5f}", best));
  }
  return md;
}

// One script for every plot, over the data files write_plots writes.
std::string gnuplot_script(const std::vector<Run>& runs, const std::set<std::string>& methods, bool scaling) {
  std::string gp = "set terminal pngcairo size 900,560 noenhanced\nset grid\nset key outside right\n";
  if (!methods.empty()) {  // none for --training-only
    gp += "set output 'psnr_by_sigma.png'\nset title 'PSNR by noise sigma (mean, 95 % CI)'\nset xlabel 'sigma'\nset ylabel 'PSNR (dB)'\nplot ";
    std::size_t index = 0;
    for (const auto& m : methods)
      for (std::size_t r = 0; r < runs.size(); ++r, ++index)
        gp += fmt::format("{}'psnr.dat' index {} with yerrorlines title '{}:{}'", index ? ", " : "", index, runs[r].name, m);
    gp += "\n";
  }
  gp += "set output 'loss_curves.png'\nset title 'L1 loss per epoch'\nset xlabel 'epoch'\nset ylabel 'L1'\nplot ";
  for (std::size_t r = 0; r < runs.size(); ++r)
    gp += fmt::format("{}'curves.dat' index {} using 1:2 with linespoints title '{} train', 'curves.dat' index {} using 1:3 with linespoints title '{} val'",
                      r ? ", " : "", r, runs[r].name, r, runs[r].name);
  gp += "\n";
  if (scaling)
    gp += "set output 'scaling.png'\nset title 'Speedup and efficiency against ranks'\nset xlabel 'ranks'\nset ylabel 'speedup'\n"
          "set y2label 'efficiency'\nset y2tics\nplot 'scaling.dat' using 1:2 with linespoints title 'speedup', "
          "x with lines dashtype 2 title 'ideal', 'scaling.dat' using 1:3 axes x1y2 with linespoints title 'efficiency'\n";
  return gp;
}

}  // namespace

std::string render_csv(const std::vector<Run>& runs, const Groups& groups) {
  std::string csv = "run,model,sigma,method,n,psnr_mean,psnr_sd,psnr_ci95,ssim_mean,ssim_sd,ssim_ci95,ssim_3x3_mean,ssim_3x3_sd,"
                    "ssim_3x3_ci95,lpips_mean,lpips_sd,lpips_ci95\n";
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    csv += fmt::format("{},{},{},{},{}", runs[r].name, runs[r].config.get_string("model.name"), sigma, method, g.images.size());
    for (const char* metric : {"psnr", "ssim", "ssim_3x3", "lpips"}) {
      const auto s = g.summaries.find(metric);
      csv += s == g.summaries.end() ? ",,," : fmt::format(",{:.6f},{:.6f},{:.6f}", s->second.mean, s->second.sd, s->second.ci95);
    }
    csv += "\n";
  }
  return csv;
}

std::string render_markdown(const std::vector<Run>& runs, const Groups& groups, const json& summary) {
  std::string md = "# cxr-denoise summary\n\nPSNR (dB) / SSIM / SSIM 3x3 (the reference's window) [/ LPIPS where available], mean over the test "
                   "images ± 95 % CI from a patient-level bootstrap (2,000 resamples of the patients: a patient's images are not "
                   "independent). PSNR on outputs clamped to [0, 1]; standard SSIM: 11x11 Gaussian, sigma 1.5.\n\n" +
                   quality_table(runs, groups);
  md += "\nLPIPS: " + (runs.front().meta ? runs.front().meta->lpips : std::string("not evaluated")) +
        ".\n\n## Paired comparisons (PSNR)\n\nOn per-patient means (n counts patients): each patient's images are "
        "averaged first, so a patient with many images weighs as one.\n\n"
        "| a | b | sigma | n | mean diff (dB) | t | p (t-test) | d_z | p (Wilcoxon) | r |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : summary["paired"]) {
    const auto& q = p["psnr"];
    md += fmt::format("| {} | {} | {} | {} | {:+.3f} | {:.2f} | {:.2e} | {:.2f} | {:.2e} | {:.2f} |\n", p["a"].get<std::string>(),
                      p["b"].get<std::string>(), p["sigma"].get<double>(), q["n"].get<std::size_t>(), q["mean_diff"].get<double>(),
                      q["t"].get<double>(), q["t_p"].get<double>(), q["cohens_dz"].get<double>(), q["wilcoxon_p"].get<double>(),
                      q["wilcoxon_r"].get<double>());
  }
  return md + privacy_markdown(summary) + training_table(summary["runs"]) + scaling_markdown(summary);
}

namespace {

void write_plots(const std::vector<Run>& runs, const Groups& groups, const json& summary, const std::string& out_dir) {
  const std::set<std::string> methods = methods_of(groups);
  std::string psnr, curves, scaling;  // gnuplot data files: blocks separated by two blank lines
  for (const auto& m : methods)
    for (std::size_t r = 0; r < runs.size(); ++r) {
      psnr += fmt::format("# {}:{}\n", runs[r].name, m);
      for (const auto& [key, g] : groups)
        if (std::get<0>(key) == r && std::get<2>(key) == m)
          psnr += fmt::format("{} {} {}\n", std::get<1>(key), g.summaries.at("psnr").mean, g.summaries.at("psnr").ci95);
      psnr += "\n\n";
    }
  auto dat = [](const json& v) { return v.is_null() ? std::string("NaN") : fmt::format("{}", v.get<double>()); };
  for (const auto& run : summary["runs"]) {
    curves += "# " + run["run"].get<std::string>() + "\n";
    for (const auto& e : run["training"].value("curve", json::array()))
      curves += fmt::format("{} {} {}\n", e["epoch"].get<double>(), dat(e["train_loss"]), dat(e["val_loss"]));
    curves += "\n\n";
  }
  for (const auto& s : summary["scaling"])
    scaling += fmt::format("{} {} {}\n", s["ranks"].get<double>(), s["speedup"].get<double>(), s["efficiency"].get<double>());
  const fs::path dir(out_dir);
  write_file_atomic(dir / "psnr.dat", psnr);
  write_file_atomic(dir / "curves.dat", curves);
  if (!scaling.empty()) write_file_atomic(dir / "scaling.dat", scaling);
  const auto [privacy_dat, privacy_gp] = privacy_plot(summary);
  if (!privacy_dat.empty()) write_file_atomic(dir / "privacy.dat", privacy_dat);
  write_file_atomic(dir / "plots.gp", gnuplot_script(runs, methods, !scaling.empty()) + privacy_gp);
  const std::string cmd = "cd '" + dir.string() + "' && gnuplot plots.gp 2>gnuplot.log";
  if (std::system(cmd.c_str()) != 0) spdlog::warn("gnuplot failed or is not installed (see {}); no plots", (dir / "gnuplot.log").string());
}

// ---- The job.

void summarise(const std::vector<Run>& runs, const ReduceOptions& o) {
  std::vector<json> allreduce;
  for (const auto& path : o.allreduce) {
    try {
      const json bench = json::parse(read_text_file(path));
      if (bench.at("ranks").get<int>() < 2) {  // a one-node study of one rank per node has one
        spdlog::warn("{}: an all-reduce of 1 rank says nothing about the network; not used by the scaling model", path);
        continue;
      }
      scaling::fit_link(bench);  // refused here, naming the file, rather than deep in the model
      allreduce.push_back(bench);
    } catch (const std::exception& e) {
      throw InputError(path + ": not a usable cxr-bench allreduce --json result (" + e.what() + ")");
    }
  }
  const Groups groups = make_groups(runs);
  const json summary = make_summary(runs, groups, allreduce);
  fs::create_directories(o.out_dir);
  write_file_atomic(fs::path(o.out_dir) / "summary.csv", render_csv(runs, groups));
  write_file_atomic(fs::path(o.out_dir) / "summary.json", summary.dump(2) + "\n");
  write_file_atomic(fs::path(o.out_dir) / "summary.md", render_markdown(runs, groups, summary));
  if (o.plots) write_plots(runs, groups, summary, o.out_dir);
  spdlog::info("reduced {} run(s) into {}: summary.md, summary.csv, summary.json{}", runs.size(), o.out_dir,
               o.plots ? ", psnr_by_sigma.png, loss_curves.png" + std::string(summary["privacy"]["reidentification"].empty() ? "" : ", privacy.png") : "");
}

}  // namespace

int run_reduce(dist::World& world, const ReduceOptions& o) {
  world.set_timeout(o.timeout_s);
  // Every rank opens the runs and reads its share of the CSV files (file k on rank k % size);
  // the ranks agree on both, so a file one rank cannot read ends every rank with its message.
  std::vector<Run> runs = dist::all_or_none(world, [&] {
    if (o.runs.empty()) throw InputError("give at least one run directory");
    std::vector<Run> opened;
    for (const auto& d : o.runs) opened.push_back(open_run(d, o.training_only));
    return opened;
  });
  std::vector<std::pair<std::size_t, ResultFile>> files;  // (run, CSV file)
  for (std::size_t r = 0; r < runs.size(); ++r)
    for (const auto& csv : result_files(runs[r])) files.emplace_back(r, csv);
  const std::string mine = dist::all_or_none(world, [&] {
    json texts = json::array();
    for (std::size_t k = static_cast<std::size_t>(world.rank()); k < files.size(); k += static_cast<std::size_t>(world.size()))
      texts.push_back({k, read_text_file(files[k].second.path)});
    return texts.dump();
  });
  const auto gathered = world.gather(mine);
  // Rank 0 parses, checks and summarises; the others wait in the agreement and end with its verdict.
  world.watchdog().set_context("rank 0 summarising");
  dist::all_or_none(world, [&] {
    if (!world.is_root()) return;
    for (const auto& part : gathered)
      for (const auto& [k, text] : json::parse(part).get<std::vector<std::pair<std::size_t, std::string>>>()) {
        Run& run = runs[files[k].first];
        if (const ResultFile& file = files[k].second; file.matches)
          append(run.matches, rundir::parse_match_results(text, file.path));
        else
          append(run.rows, rundir::parse_eval_results(text, file.path));
      }
    for (auto& run : runs) complete_run(run);
    summarise(runs, o);
  });
  return kExitOk;
}

}  // namespace cxr::report
