#include "report/reduce.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "nih/metadata.hpp"
#include "report/stats.hpp"

namespace cxr::report {
namespace {

using nlohmann::json;

const char* kHeader = "image,patient,labels,view,sigma,method,psnr,ssim,ssim_3x3,lpips";
const char* kMetrics[] = {"psnr", "ssim", "ssim_3x3"};

double number(const std::string& s, const std::string& where) {
  const auto v = parse_double(s);
  if (!v) throw InputError(where + ": '" + s + "' is not a number");
  if (!std::isfinite(*v)) throw InputError(where + ": value " + s + " is not finite (NaN or inf); refusing to average it");
  return *v;
}

// One eval CSV -> rows as compact JSON arrays [image, patient, labels, view, sigma, method, psnr, ssim, ssim_3x3].
json parse_eval_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read " + path);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) throw InputError(at_line(path, 1, std::string("expected the header '") + kHeader + "'"));
  json rows = json::array();
  long no = 1;
  while (std::getline(in, line)) {
    ++no;
    if (line.empty()) continue;
    std::vector<std::string> f;
    try {
      f = split_csv_line(line);
    } catch (const std::exception& e) {
      throw InputError(at_line(path, no, e.what()));
    }
    if (f.size() != 10) throw InputError(at_line(path, no, "expected 10 fields, found " + std::to_string(f.size())));
    const std::string where = path + ":" + std::to_string(no);
    // LPIPS may be empty (unavailable): kept as null, summarised only where every row has it.
    rows.push_back({f[0], f[1], f[2], f[3], number(f[4], where), f[5], number(f[6], where), number(f[7], where), number(f[8], where),
                    f[9].empty() ? json(nullptr) : json(number(f[9], where))});
  }
  return rows;
}

struct Run {
  std::string dir, name;
  json meta;
  YAML::Node config;
  std::vector<std::string> csvs;
};

Run open_run(const std::string& dir, bool training_only) {
  Run r;
  r.dir = dir;
  r.name = fs::path(dir).lexically_normal().filename().string();
  if (r.name.empty()) r.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  if (training_only) {
    try {
      r.config = YAML::LoadFile((fs::path(dir) / "config.yaml").string());
    } catch (const std::exception& e) {
      throw InputError("run " + dir + ": cannot read its config.yaml: " + e.what());
    }
    r.meta = json::object();
    return r;
  }
  const fs::path meta = fs::path(dir) / "eval" / "meta.json";
  if (!fs::exists(meta)) throw InputError("run " + dir + " has no evaluation: " + meta.string() + " is missing (run cxr-eval first)");
  try {
    r.meta = json::parse(read_text_file(meta));
    r.config = YAML::LoadFile((fs::path(dir) / "config.yaml").string());
  } catch (const std::exception& e) {
    throw InputError("run " + dir + ": cannot read its meta.json or config.yaml: " + e.what());
  }
  const int ranks = r.meta.at("ranks").get<int>();
  for (int k = 0; k < ranks; ++k) {
    const fs::path csv = fs::path(dir) / "eval" / fmt::format("rank-{:05d}.csv", k);
    if (!fs::exists(csv)) throw InputError("run " + dir + ": " + csv.string() + " is missing (evaluated with " + std::to_string(ranks) + " ranks)");
    r.csvs.push_back(csv.string());
  }
  return r;
}

// Training statistics from logs/rank-*.jsonl.
json training_stats(const Run& run) {
  std::vector<fs::path> files;
  const fs::path logs = fs::path(run.dir) / "logs";
  if (fs::is_directory(logs))
    for (const auto& e : fs::directory_iterator(logs))
      if (e.path().extension() == ".jsonl") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  json out = {{"ranks", files.size()}};
  if (files.empty()) return out;
  std::vector<double> ips, data, compute, comm, optim, epoch_s;
  double rss = 0, gpu = 0;
  json curve = json::array();
  for (std::size_t f = 0; f < files.size(); ++f) {
    std::ifstream in(files[f]);
    std::string line;
    long no = 0;
    bool first_step = true;
    while (std::getline(in, line)) {
      ++no;
      json j;
      try {
        j = json::parse(line);
      } catch (const std::exception&) {
        throw InputError(at_line(files[f].string(), no, "not a JSON line"));
      }
      if (j.contains("event")) {
        if (f == 0 && j["event"] == "epoch") {
          curve.push_back({{"epoch", j["epoch"]}, {"train_loss", j["train_loss"]}, {"val_loss", j["val_loss"]}});
          epoch_s.push_back(j["epoch_s"].get<double>());
        }
        continue;
      }
      rss = std::max(rss, j.value("max_rss_mb", 0.0));
      gpu = std::max(gpu, j.value("peak_gpu_mb", 0.0));
      if (f != 0) continue;
      if (first_step) {  // the warm-up step is left out of the rates
        first_step = false;
        continue;
      }
      ips.push_back(j["images_per_s"].get<double>());
      data.push_back(j["data_s"].get<double>());
      compute.push_back(j["compute_s"].get<double>());
      comm.push_back(j["comm_s"].get<double>());
      optim.push_back(j["optim_s"].get<double>());
    }
  }
  out["images_per_s"] = summarize(ips).mean;
  out["images_per_s_sd"] = summarize(ips).sd;
  out["data_s"] = summarize(data).mean;
  out["compute_s"] = summarize(compute).mean;
  out["comm_s"] = summarize(comm).mean;
  out["optim_s"] = summarize(optim).mean;
  out["epoch_s"] = summarize(epoch_s).mean;
  out["epochs"] = curve.size();
  out["peak_rss_mb"] = rss;
  out["peak_gpu_mb"] = gpu;
  out["curve"] = curve;
  return out;
}

std::string pm(const Summary& s, int digits) { return fmt::format("{:.{}f} ± {:.{}f}", s.mean, digits, s.ci95, digits); }

void run_gnuplot(const std::string& script, const fs::path& out_dir) {
  const fs::path file = out_dir / "plots.gp";
  write_file_atomic(file, script);
  const std::string cmd = "cd '" + out_dir.string() + "' && gnuplot plots.gp 2>gnuplot.log";
  if (std::system(cmd.c_str()) != 0) spdlog::warn("gnuplot failed or is not installed (see {}); no plots", (out_dir / "gnuplot.log").string());
}

// Rank 0's part: checks, statistics, tables and plots from every rank's parsed rows.
void summarise(const std::vector<Run>& runs, const std::vector<std::string>& gathered, const ReduceOptions& o) {
  std::vector<json> rows_of(runs.size(), json::array());
  for (const auto& g : gathered)
    for (const auto& part : json::parse(g))
      for (const auto& row : part[1]) rows_of[part[0].get<std::size_t>()].push_back(row);

  // Completeness: every (image, sigma, method) exactly once.
  for (std::size_t r = 0; r < runs.size() && !o.training_only; ++r) {
    const json& m = runs[r].meta;
    const std::size_t expected = m["images"].get<std::size_t>() * m["sigmas"].size() * m["methods"].size();
    std::set<std::string> seen;
    for (const auto& row : rows_of[r]) {
      const std::string key = fmt::format("{}|{}|{}", row[0].get<std::string>(), row[4].get<double>(), row[5].get<std::string>());
      if (!seen.insert(key).second) throw InputError("run " + runs[r].dir + ": " + key + " appears twice in its eval CSVs");
    }
    if (rows_of[r].size() != expected)
      throw InputError(fmt::format("run {}: {} evaluation rows, expected {} ({} images x {} sigmas x {} methods): an incomplete evaluation",
                                   runs[r].dir, rows_of[r].size(), expected, m["images"].get<std::size_t>(), m["sigmas"].size(),
                                   m["methods"].size()));
  }

  // Groups: (run, sigma, method) -> per metric values, image order kept for pairing.
  struct Group {
    std::map<std::string, std::vector<double>> values;
    std::vector<std::string> images;
  };
  std::map<std::tuple<std::size_t, double, std::string>, Group> groups;
  std::map<std::tuple<std::size_t, double, std::string>, std::vector<double>> by_label, by_view;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    json rows = rows_of[r];
    std::sort(rows.begin(), rows.end(), [](const json& a, const json& b) { return a[0] < b[0]; });
    for (const auto& row : rows) {
      Group& g = groups[{r, row[4].get<double>(), row[5].get<std::string>()}];
      g.images.push_back(row[0]);
      for (int k = 0; k < 3; ++k) g.values[kMetrics[k]].push_back(row[6 + k].get<double>());
      if (!row[9].is_null()) g.values["lpips"].push_back(row[9].get<double>());
      if (row[5] == "model") {
        by_view[{r, row[4].get<double>(), row[3].get<std::string>()}].push_back(row[6].get<double>());
        const std::string labels = row[2];
        std::size_t start = 0;
        while (start <= labels.size()) {
          const auto bar = labels.find('|', start);
          by_label[{r, row[4].get<double>(), labels.substr(start, bar == std::string::npos ? std::string::npos : bar - start)}]
              .push_back(row[6].get<double>());
          if (bar == std::string::npos) break;
          start = bar + 1;
        }
      }
    }
  }

  fs::create_directories(o.out_dir);
  json summary = {{"runs", json::array()}, {"groups", json::array()}, {"paired", json::array()}, {"by_label", json::array()},
                  {"by_view", json::array()}, {"scaling", json::array()}};
  std::string csv = "run,model,sigma,method,n,psnr_mean,psnr_sd,psnr_ci95,ssim_mean,ssim_sd,ssim_ci95,ssim_3x3_mean,ssim_3x3_sd,"
                    "ssim_3x3_ci95,lpips_mean,lpips_sd,lpips_ci95\n";
  std::vector<json> train(runs.size());
  for (std::size_t r = 0; r < runs.size(); ++r) {
    train[r] = training_stats(runs[r]);
    const json& m = runs[r].meta;  // empty for --training-only runs
    summary["runs"].push_back({{"run", runs[r].name}, {"dir", runs[r].dir}, {"model", m.value("model", json())},
                               {"checkpoint_step", m.value("global_step", json())}, {"test_set_sha256", m.value("test_set_sha256", json())},
                               {"lpips", m.value("lpips", json())}, {"baselines", m.value("baselines", json())}, {"training", train[r]}});
  }
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    json entry = {{"run", runs[r].name}, {"model", runs[r].meta.value("model", json())}, {"sigma", sigma}, {"method", method}};
    std::string line = fmt::format("{},{},{},{},{}", runs[r].name, runs[r].config["model"]["name"].as<std::string>(), sigma, method,
                                   g.images.size());
    for (const char* m : kMetrics) {
      const Summary s = summarize(g.values.at(m));
      entry[m] = {{"n", s.n}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}};
      line += fmt::format(",{:.6f},{:.6f},{:.6f}", s.mean, s.sd, s.ci95);
    }
    if (g.values.count("lpips") && g.values.at("lpips").size() == g.images.size()) {
      const Summary s = summarize(g.values.at("lpips"));
      entry["lpips"] = {{"n", s.n}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}};
      line += fmt::format(",{:.6f},{:.6f},{:.6f}", s.mean, s.sd, s.ci95);
    } else {
      line += ",,,";
    }
    entry["n"] = g.images.size();
    summary["groups"].push_back(entry);
    csv += line + "\n";
  }
  // Paired: the model against every other method of its run; runs against each other on the same test set.
  auto add_paired = [&](const std::string& a_name, const Group& a, const std::string& b_name, const Group& b, double sigma) {
    if (a.images != b.images) return false;
    json entry = {{"a", a_name}, {"b", b_name}, {"sigma", sigma}};
    for (const char* m : kMetrics) {
      const Paired p = compare_paired(a.values.at(m), b.values.at(m));
      entry[m] = {{"n", p.n}, {"mean_diff", p.mean_diff}, {"t", p.t}, {"t_p", p.t_p}, {"cohens_dz", p.cohens_dz},
                  {"wilcoxon_z", p.wilcoxon_z}, {"wilcoxon_p", p.wilcoxon_p}, {"wilcoxon_r", p.wilcoxon_r}};
    }
    summary["paired"].push_back(entry);
    return true;
  };
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    if (method == "model") continue;
    const auto it = groups.find({r, sigma, "model"});
    if (it != groups.end()) add_paired(runs[r].name + ":model", it->second, runs[r].name + ":" + method, g, sigma);
  }
  for (std::size_t a = 0; a < runs.size(); ++a)
    for (std::size_t b = a + 1; b < runs.size(); ++b)
      for (const auto& [key, g] : groups) {
        if (std::get<0>(key) != a || std::get<2>(key) != "model") continue;
        const auto it = groups.find({b, std::get<1>(key), "model"});
        if (it == groups.end()) continue;
        if (runs[a].meta.value("test_set_sha256", "") != runs[b].meta.value("test_set_sha256", "") ||
            !add_paired(runs[a].name + ":model", g, runs[b].name + ":model", it->second, std::get<1>(key)))
          spdlog::warn("runs {} and {} were evaluated on different test sets: not compared image by image", runs[a].name, runs[b].name);
      }
  for (const auto& [key, v] : by_label) {
    const Summary s = summarize(v);
    summary["by_label"].push_back({{"run", runs[std::get<0>(key)].name}, {"sigma", std::get<1>(key)}, {"label", std::get<2>(key)},
                                   {"n", s.n}, {"psnr_mean", s.mean}, {"psnr_ci95", s.ci95}});
  }
  for (const auto& [key, v] : by_view) {
    const Summary s = summarize(v);
    summary["by_view"].push_back({{"run", runs[std::get<0>(key)].name}, {"sigma", std::get<1>(key)}, {"view", std::get<2>(key)},
                                  {"n", s.n}, {"psnr_mean", s.mean}, {"psnr_ci95", s.ci95}});
  }
  // Scaling: runs that differ only in rank count (same model and per-rank batch: weak scaling;
  // same global batch: strong scaling), against the fewest ranks.
  auto scaling = [&](const char* kind, const std::function<std::string(std::size_t)>& key_of) {
    std::map<std::string, std::vector<std::size_t>> families;
    for (std::size_t r = 0; r < runs.size(); ++r)
      if (train[r]["ranks"].get<std::size_t>() > 0 && train[r].contains("images_per_s")) families[key_of(r)].push_back(r);
    for (auto& [family, members] : families) {
      std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) { return train[a]["ranks"] < train[b]["ranks"]; });
      if (members.size() < 2 || train[members.front()]["ranks"] == train[members.back()]["ranks"]) continue;
      const double base_ips = train[members.front()]["images_per_s"], base_ranks = train[members.front()]["ranks"];
      for (auto r : members) {
        const double ranks = train[r]["ranks"], speedup = train[r]["images_per_s"].get<double>() / base_ips;
        summary["scaling"].push_back({{"kind", kind}, {"family", family}, {"run", runs[r].name}, {"ranks", ranks},
                                      {"images_per_s", train[r]["images_per_s"]}, {"speedup", speedup},
                                      {"efficiency", speedup / (ranks / base_ranks)}});
      }
    }
  };
  auto model_key = [&](std::size_t r) {
    const YAML::Node& c = runs[r].config;
    return fmt::format("{} base={} norm={} amp={}", c["model"]["name"].as<std::string>(), c["model"]["base_width"].as<int>(),
                       c["model"]["norm"].as<std::string>(), c["train"]["amp"].as<std::string>());
  };
  scaling("weak", [&](std::size_t r) { return model_key(r) + fmt::format(" batch/rank={}", runs[r].config["train"]["batch_size"].as<int>()); });
  scaling("strong", [&](std::size_t r) {
    return model_key(r) + fmt::format(" global batch={}", runs[r].config["train"]["batch_size"].as<int>() * train[r]["ranks"].get<int>());
  });

  // summary.md: the reference study's table shape, then the rest.
  std::string md = "# cxr-denoise summary\n\nPSNR (dB) / SSIM / SSIM 3x3 (the reference's window) [/ LPIPS where available], mean ± 95 % CI "
                   "over the test images. PSNR on outputs clamped to [0, 1]; standard SSIM: 11x11 Gaussian, sigma 1.5.\n\n";
  std::set<std::string> methods;
  for (const auto& [key, g] : groups) methods.insert(std::get<2>(key));
  md += "| run | sigma | n |";
  for (const auto& m : methods) md += " " + m + " |";
  md += "\n|---|---|---|";
  for (std::size_t i = 0; i < methods.size(); ++i) md += "---|";
  md += "\n";
  std::set<std::pair<std::size_t, double>> rows_done;
  for (const auto& [key, g] : groups) {
    const auto r = std::get<0>(key);
    const double sigma = std::get<1>(key);
    if (!rows_done.insert({r, sigma}).second) continue;
    md += fmt::format("| {} | {} | {} |", runs[r].name, sigma, g.images.size());
    for (const auto& m : methods) {
      const auto it = groups.find({r, sigma, m});
      if (it == groups.end()) {
        md += " |";
        continue;
      }
      md += fmt::format(" {} / {} / {}", pm(summarize(it->second.values.at("psnr")), 2), pm(summarize(it->second.values.at("ssim")), 4),
                        pm(summarize(it->second.values.at("ssim_3x3")), 4));
      const auto lp = it->second.values.find("lpips");
      md += lp != it->second.values.end() && lp->second.size() == it->second.images.size() ? " / " + pm(summarize(lp->second), 4) + " |" : " |";
    }
    md += "\n";
  }
  md += "\nLPIPS: " + runs.front().meta.value("lpips", std::string("not evaluated")) + ".\n\n## Paired comparisons (PSNR)\n\n"
        "| a | b | sigma | n | mean diff (dB) | t | p (t-test) | d_z | p (Wilcoxon) | r |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& p : summary["paired"]) {
    const auto& q = p["psnr"];
    md += fmt::format("| {} | {} | {} | {} | {:+.3f} | {:.2f} | {:.2e} | {:.2f} | {:.2e} | {:.2f} |\n", p["a"].get<std::string>(),
                      p["b"].get<std::string>(), p["sigma"].get<double>(), q["n"].get<std::size_t>(), q["mean_diff"].get<double>(),
                      q["t"].get<double>(), q["t_p"].get<double>(), q["cohens_dz"].get<double>(), q["wilcoxon_p"].get<double>(),
                      q["wilcoxon_r"].get<double>());
  }
  md += "\n## Training\n\n| run | ranks | epochs | epoch s | images/s | data s | compute s | comm s | optimizer s | peak RSS MB | peak GPU MB | best val L1 |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const json& t = train[r];
    if (t["ranks"].get<std::size_t>() == 0) continue;
    double best = 1e30;
    for (const auto& e : t["curve"])
      if (e["val_loss"].get<double>() >= 0) best = std::min(best, e["val_loss"].get<double>());
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.2f} | {:.4f} | {:.3f} | {:.4f} | {:.4f} | {:.0f} | {:.0f} | {} |\n", runs[r].name,
                      t["ranks"].get<std::size_t>(), t["epochs"].get<std::size_t>(), t["epoch_s"].get<double>(),
                      t["images_per_s"].get<double>(), t["data_s"].get<double>(), t["compute_s"].get<double>(),
                      t["comm_s"].get<double>(), t["optim_s"].get<double>(), t["peak_rss_mb"].get<double>(),
                      t["peak_gpu_mb"].get<double>(), best < 1e29 ? fmt::format("{:.5f}", best) : std::string("n/a"));
  }
  if (!summary["scaling"].empty()) {
    md += "\n## Scaling\n\n| kind | family | run | ranks | images/s | speedup | efficiency |\n|---|---|---|---|---|---|---|\n";
    for (const auto& s : summary["scaling"])
      md += fmt::format("| {} | {} | {} | {} | {:.2f} | {:.2f} | {:.2f} |\n", s["kind"].get<std::string>(), s["family"].get<std::string>(),
                        s["run"].get<std::string>(), s["ranks"].get<double>(), s["images_per_s"].get<double>(),
                        s["speedup"].get<double>(), s["efficiency"].get<double>());
  }
  write_file_atomic(fs::path(o.out_dir) / "summary.csv", csv);
  write_file_atomic(fs::path(o.out_dir) / "summary.json", summary.dump(2) + "\n");
  write_file_atomic(fs::path(o.out_dir) / "summary.md", md);

  if (o.plots) {
    // Data files for gnuplot, then one script for all plots.
    std::string psnr_dat, curves_dat, scaling_dat;
    for (const auto& m : methods) {
      for (std::size_t r = 0; r < runs.size(); ++r) {
        psnr_dat += fmt::format("# {}:{}\n", runs[r].name, m);
        for (const auto& [key, g] : groups)
          if (std::get<0>(key) == r && std::get<2>(key) == m) {
            const Summary s = summarize(g.values.at("psnr"));
            psnr_dat += fmt::format("{} {} {}\n", std::get<1>(key), s.mean, s.ci95);
          }
        psnr_dat += "\n\n";
      }
    }
    for (std::size_t r = 0; r < runs.size(); ++r) {
      curves_dat += "# " + runs[r].name + "\n";
      for (const auto& e : train[r].value("curve", json::array()))
        curves_dat += fmt::format("{} {} {}\n", e["epoch"].get<double>(), e["train_loss"].get<double>(),
                                  e["val_loss"].get<double>() >= 0 ? fmt::format("{}", e["val_loss"].get<double>()) : std::string("NaN"));
      curves_dat += "\n\n";
    }
    for (const auto& s : summary["scaling"]) scaling_dat += fmt::format("{} {} {}\n", s["ranks"].get<double>(), s["speedup"].get<double>(), s["efficiency"].get<double>());
    write_file_atomic(fs::path(o.out_dir) / "psnr.dat", psnr_dat);
    write_file_atomic(fs::path(o.out_dir) / "curves.dat", curves_dat);
    std::string gp = "set terminal pngcairo size 900,560 noenhanced\nset grid\nset key outside right\n";
    if (!methods.empty()) {  // none for --training-only
      gp += "set output 'psnr_by_sigma.png'\nset title 'PSNR by noise sigma (mean, 95 % CI)'\nset xlabel 'sigma'\nset ylabel 'PSNR (dB)'\nplot ";
      std::size_t idx = 0;
      for (const auto& m : methods)
        for (std::size_t r = 0; r < runs.size(); ++r, ++idx)
          gp += fmt::format("{}'psnr.dat' index {} with yerrorlines title '{}:{}'", idx ? ", " : "", idx, runs[r].name, m);
      gp += "\n";
    }
    gp += "set output 'loss_curves.png'\nset title 'L1 loss per epoch'\nset xlabel 'epoch'\nset ylabel 'L1'\nplot ";
    for (std::size_t r = 0; r < runs.size(); ++r)
      gp += fmt::format("{}'curves.dat' index {} using 1:2 with linespoints title '{} train', 'curves.dat' index {} using 1:3 with linespoints title '{} val'",
                        r ? ", " : "", r, runs[r].name, r, runs[r].name);
    gp += "\n";
    if (!scaling_dat.empty()) {
      write_file_atomic(fs::path(o.out_dir) / "scaling.dat", scaling_dat);
      gp += "set output 'scaling.png'\nset title 'Speedup and efficiency against ranks'\nset xlabel 'ranks'\nset ylabel 'speedup'\n"
            "set y2label 'efficiency'\nset y2tics\nplot 'scaling.dat' using 1:2 with linespoints title 'speedup', "
            "x with lines dashtype 2 title 'ideal', 'scaling.dat' using 1:3 axes x1y2 with linespoints title 'efficiency'\n";
    }
    run_gnuplot(gp, o.out_dir);
  }
  spdlog::info("reduced {} run(s) into {}: summary.md, summary.csv, summary.json{}", runs.size(), o.out_dir,
               o.plots ? ", psnr_by_sigma.png, loss_curves.png" : "");
}

}  // namespace

int run_reduce(dist::World& world, const ReduceOptions& o) {
  world.set_timeout(o.timeout_s);
  // Every rank opens the runs, and parses its share of the CSVs (file k on rank k % size); the
  // ranks agree on both, so a file one rank cannot read ends every rank with its message.
  const std::vector<Run> runs = dist::all_or_none(world, [&] {
    if (o.runs.empty()) throw InputError("give at least one run directory");
    std::vector<Run> opened;
    for (const auto& d : o.runs) opened.push_back(open_run(d, o.training_only));
    return opened;
  });
  std::vector<std::pair<std::size_t, std::string>> files;
  for (std::size_t r = 0; r < runs.size(); ++r)
    for (const auto& c : runs[r].csvs) files.emplace_back(r, c);
  const json mine = dist::all_or_none(world, [&] {
    json parts = json::array();
    for (std::size_t k = static_cast<std::size_t>(world.rank()); k < files.size(); k += static_cast<std::size_t>(world.size()))
      parts.push_back({files[k].first, parse_eval_csv(files[k].second)});
    return parts;
  });
  const auto gathered = world.gather(mine.dump());
  // Rank 0 summarises; the others wait in the agreement and end with its verdict.
  world.watchdog().set_context("rank 0 summarising");
  dist::all_or_none(world, [&] {
    if (world.is_root()) summarise(runs, gathered, o);
  });
  return kExitOk;
}

}  // namespace cxr::report
