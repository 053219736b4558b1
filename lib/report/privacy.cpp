#include "report/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

namespace cxr::report {
namespace {

using nlohmann::json;

// One cell of the re-identification table: the hits of a set of queries in the top 1 and top 5.
struct Rates {
  std::size_t queries = 0;
  std::map<std::int64_t, double> per_patient;  // queries per patient
  double top1 = 0, top5 = 0, chance1 = 0, chance5 = 0;  // sums, divided by `queries` when reported

  // A patient's queries are not independent (its studies look alike): the interval counts
  // Kish's effective sample size (sum m)^2 / sum m^2 over the patients' query counts m, what the
  // queries are worth if each patient's were one observation. It is the number of patients when
  // every patient has as many queries, fewer when a few patients have many.
  double effective_n() const {
    double sum = 0, squares = 0;
    for (const auto& [patient, m] : per_patient) sum += m, squares += m * m;
    return squares > 0 ? sum * sum / squares : 0;
  }
};

json rate_json(double hits, double chance, const Rates& r) {
  const double p = hits / static_cast<double>(r.queries);
  const auto [lo, hi] = wilson_interval(p, r.effective_n());
  return {{"rate", p}, {"ci_low", lo}, {"ci_high", hi}, {"chance", chance / static_cast<double>(r.queries)}};
}

// Clean and obfuscated queries do not depend on the model: the same for every run evaluated on
// the same test set with the same noise, so they are counted once (from the first such run).
std::string test_set_of(const Run& run) {
  return fmt::format("{}/{}/{}/{}", run.meta->test_set_sha256, run.meta->data_dir, run.meta->noise_seed, run.meta->noise_mean);
}

json reidentification(const std::vector<Run>& runs) {
  std::map<std::string, std::size_t> first_run;  // test set -> the first run evaluated on it: its model-free rows count
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (runs[i].meta) first_run.emplace(test_set_of(runs[i]), i);
  // (gallery, sigma, query's place in kQueries, run label, test set) -> rates
  const std::vector<std::string> kQueries = {"clean", "obfuscated", "denoised"};
  auto order = [&](const std::string& q) { return std::find(kQueries.begin(), kQueries.end(), q) - kQueries.begin(); };
  using Key = std::tuple<std::string, double, std::ptrdiff_t, std::string, std::string>;
  std::map<Key, Rates> cells;
  auto add = [&](const Key& key, const rundir::MatchRow& m, bool hit1, bool hit5, double chance1, double chance5) {
    Rates& r = cells[key];
    r.queries += 1, r.per_patient[m.patient] += 1;
    r.top1 += hit1, r.top5 += hit5, r.chance1 += chance1, r.chance5 += chance5;
  };
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    if (!run.meta) continue;
    const std::string test_set = test_set_of(run);
    for (const auto& m : run.matches) {
      if (m.query != "denoised" && first_run.at(test_set) != i) continue;  // counted from the first run
      // Model-free rows are labelled "-" when every run shares one test set, else by the run they came from.
      const std::string label = m.query == "denoised" || first_run.size() > 1 ? run.name : "-";
      add({"a", m.sigma, order(m.query), label, test_set}, m, m.own_rank == 1, m.own_rank <= 5, chance_top_k(m.gallery, 1, 1),
          chance_top_k(m.gallery, 1, 5));
      if (m.followup_same > 0)  // (b) asks only about patients with another study
        add({"b", m.sigma, order(m.query), label, test_set}, m, m.followup_rank == 1, m.followup_rank <= 5,
            chance_top_k(m.gallery - 1, m.followup_same, 1), chance_top_k(m.gallery - 1, m.followup_same, 5));
    }
  }
  json out = json::array();
  for (const auto& [key, r] : cells) {
    const auto& [gallery, sigma, query, run, test_set] = key;
    out.push_back({{"gallery", gallery}, {"sigma", sigma}, {"query", kQueries[static_cast<std::size_t>(query)]}, {"run", run},
                   {"queries", r.queries}, {"patients", r.per_patient.size()}, {"effective_n", r.effective_n()},
                   {"top1", rate_json(r.top1, r.chance1, r)}, {"top5", rate_json(r.top5, r.chance5, r)}});
  }
  return out;
}

json deobfuscation(const std::vector<Run>& runs, const Groups& groups) {
  json out = json::array();
  for (const auto& [key, g] : groups) {
    const auto& [r, sigma, method] = key;
    const auto noisy = groups.find({r, sigma, "noisy"});
    if (method != "model" || noisy == groups.end()) continue;
    double rms = 0;  // PSNR = -20 log10(RMS error) with data range 1: each image's RMS error, averaged
    for (double psnr : noisy->second.values.at("psnr")) rms += std::pow(10.0, -psnr / 20);
    rms /= static_cast<double>(noisy->second.images.size());
    out.push_back({{"run", runs[r].name}, {"sigma", sigma}, {"target", runs[r].config.get_string("train.target")},
                   {"trained_sigma", runs[r].config.get_float("noise.sigma")}, {"obfuscated_psnr", noisy->second.summaries.at("psnr").mean},
                   {"obfuscated_rms", rms}, {"denoised_psnr", g.summaries.at("psnr").mean},
                   {"denoised_psnr_ci95", g.summaries.at("psnr").ci95}, {"denoised_ssim", g.summaries.at("ssim").mean}});
  }
  return out;
}

std::string percent(const json& rate) {
  return fmt::format("{:.1f} ({:.1f}-{:.1f})", 100 * rate["rate"].get<double>(), 100 * rate["ci_low"].get<double>(),
                     100 * rate["ci_high"].get<double>());
}

}  // namespace

void add_privacy(const std::vector<Run>& runs, const Groups& groups, json& summary) {
  summary["privacy"] = {{"deobfuscation", deobfuscation(runs, groups)}, {"reidentification", reidentification(runs)}};
}

std::string privacy_markdown(const json& summary) {
  const json& p = summary["privacy"];
  if (p["reidentification"].empty() && p["deobfuscation"].empty()) return "";
  std::string md = "\n## Privacy\n\nWhat the obfuscation hides, measured (docs/PRIVACY.md).\n\n**The noise in plain words.**";
  std::set<double> said;
  for (const auto& d : p["deobfuscation"])
    if (said.insert(d["sigma"].get<double>()).second)
      md += fmt::format(" Sigma {}: the obfuscated image is at {:.1f} dB PSNR, its pixels off by {:.1f} % of the grey range (RMS, mean over images).",
                        d["sigma"].get<double>(), d["obfuscated_psnr"].get<double>(), 100 * d["obfuscated_rms"].get<double>());
  md += "\n\n**De-obfuscation**: what a denoiser recovers from the obfuscated image, against the clean one. A Noise2Noise "
        "model (trained on noisy targets) needs no clean image: anyone holding obfuscated images can train it.\n\n"
        "| sigma | obfuscated PSNR dB | run | trained on | denoised PSNR dB (95 % CI) | denoised SSIM |\n|---|---|---|---|---|---|\n";
  for (const auto& d : p["deobfuscation"])
    md += fmt::format("| {} | {:.2f} | {} | {} targets, sigma {} | {:.2f} ± {:.2f} | {:.4f} |\n", d["sigma"].get<double>(),
                      d["obfuscated_psnr"].get<double>(), d["run"].get<std::string>(), d["target"].get<std::string>(),
                      d["trained_sigma"].get<double>(), d["denoised_psnr"].get<double>(), d["denoised_psnr_ci95"].get<double>(),
                      d["denoised_ssim"].get<double>());
  if (p["reidentification"].empty())
    return md + "\n**Re-identification by matching**: not measured (an evaluation from before cxr-eval ran the attack: "
                "evaluate again).\n";
  md += "\n**Re-identification by matching**: each query (the clean image, sigma 0; the obfuscated one; the model's output) "
        "is ranked against clean images by normalised cross-correlation of 32x32 histogram-equalised copies. Gallery (a): "
        "every clean test image, the query's own original among them (an attacker with a leaked archive); a hit is the "
        "original. Gallery (b): the other studies of all patients (the query's own removed); a hit is a study of the same "
        "patient; only patients with another study count. A simple matcher: the rates are a lower bound on the risk. 95 % "
        "CIs: Wilson intervals on the effective number of patients, (sum m)^2 / sum m^2 for m queries per patient (a "
        "patient's queries are not independent). Chance: a random ranking.\n\n"
        "| gallery | sigma | query | run | queries | patients | top-1 % (95 % CI) | chance top-1 % | top-5 % (95 % CI) | chance top-5 % |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : p["reidentification"])
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.1f} | {} | {:.1f} |\n", r["gallery"].get<std::string>(),
                      r["sigma"].get<double>(), r["query"].get<std::string>(), r["run"].get<std::string>(),
                      r["queries"].get<std::size_t>(), r["patients"].get<std::size_t>(), percent(r["top1"]),
                      100 * r["top1"]["chance"].get<double>(), percent(r["top5"]), 100 * r["top5"]["chance"].get<double>());
  const json& rows = p["reidentification"];
  if (std::none_of(rows.begin(), rows.end(), [](const json& r) { return r["gallery"] == "b"; }))
    md += "\nGallery (b) is empty: no patient has two studies in this test split.\n";
  return md;
}

std::pair<std::string, std::string> privacy_plot(const json& summary) {
  // One data block per (gallery, query, run) series: sigma against top-1 % and its CI.
  std::map<std::tuple<std::string, std::string, std::string>, std::string> series;
  for (const auto& r : summary["privacy"]["reidentification"]) {
    const auto& t = r["top1"];
    series[{r["gallery"].get<std::string>(), r["query"].get<std::string>(), r["run"].get<std::string>()}] +=
        fmt::format("{} {} {} {} {}\n", r["sigma"].get<double>(), 100 * t["rate"].get<double>(),
                    100 * t["ci_low"].get<double>(), 100 * t["ci_high"].get<double>(), 100 * t["chance"].get<double>());
  }
  if (series.empty()) return {};
  std::string dat;
  for (const auto& [key, rows] : series)
    dat += fmt::format("# {} {} {}\n{}\n\n", std::get<0>(key), std::get<1>(key), std::get<2>(key), rows);
  std::string gp = "set terminal pngcairo size 1200,560 noenhanced\nset output 'privacy.png'\n"
                   "set multiplot layout 1,2 title 'Re-identification: top-1 match rate (95 % CI); dashed: chance'\n"
                   "set xlabel 'sigma (0: the clean image)'\nset ylabel 'top-1 %'\nset yrange [0:105]\nset offsets graph 0.05, graph 0.05, 0, 0\n"
                   "set key inside bottom left\n";
  for (const char* gallery : {"a", "b"}) {
    std::string plot;
    std::size_t index = 0;
    for (const auto& [key, rows] : series) {
      if (std::get<0>(key) == gallery) {
        const std::string label = std::get<1>(key) + (std::get<2>(key) == "-" ? "" : " " + std::get<2>(key));
        plot += fmt::format("{}'privacy.dat' index {} using 1:2:3:4 with yerrorlines title '{}', '' index {} using 1:5 with lines dashtype 2 notitle",
                            plot.empty() ? "" : ", ", index, label, index);
      }
      ++index;
    }
    const bool a = std::string(gallery) == "a";
    gp += fmt::format("set title '{}'\n", a ? "(a) gallery holds the original" : "(b) other studies of the patient");
    if (plot.empty())  // an empty panel says why
      gp += fmt::format("set label 1 '{}' at graph 0.5, 0.5 center\nplot [0:1] NaN notitle\nunset label 1\n",
                        a ? "no re-identification results" : "no patient has two studies in this test split");
    else
      gp += "plot " + plot + "\n";
  }
  return {dat, gp + "unset multiplot\n"};
}

}  // namespace cxr::report
