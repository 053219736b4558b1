#include "report/reduce.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "scaling/model.hpp"

namespace cxr::report {
namespace {

using nlohmann::json;

constexpr int kProjectTo = 1024;

// Where a run's ranks ran: their CPUs, threads and how many ranks shared them (its setup record).
void place(scaling::Inputs& in, const Run& run) {
  if (run.logs.front().setups.empty()) return;
  const rundir::SetupRecord& setup = run.logs.front().setups.back();
  in.cpus = static_cast<int>(setup.cpus);
  in.threads_per_rank = static_cast<int>(setup.threads);
  in.ranks_sharing_cpus = static_cast<int>(setup.sharing_cpus);
}

// The model's inputs from a run's own measurements (its training stats and setup record), its
// compute taken back to what one rank on CPUs of its own would take.
scaling::Inputs inputs_from(const Run& run, const json& training) {
  scaling::Inputs in;
  in.batch = run.config.get_int("train.batch_size");
  in.forward_s = training["forward_s"].get<double>();
  in.backward_s = training["backward_s"].get<double>();
  in.optim_s = training["optim_s"].get<double>();
  in.data_s = training["data_s"].get<double>();
  in.loader_s = training["loader_s"].get<double>();
  // The spread (p90 - p10) of normally distributed step times is 2.563 standard deviations.
  in.jitter_s = training["step_s_spread"].get<double>() * training["step_s_median"].get<double>() / 2.563;
  if (!run.logs.front().setups.empty()) in.bucket_bytes = run.logs.front().setups.back().bucket_bytes;
  place(in, run);
  const double contention = scaling::cpu_contention(in);
  for (double* seconds : {&in.forward_s, &in.backward_s, &in.optim_s, &in.jitter_s}) *seconds /= contention;
  return in;
}

// The all-reduce benchmark run at the rank count closest to `ranks` (the fewer on a tie).
const scaling::Link& link_for(const std::vector<std::pair<int, scaling::Link>>& links, int ranks) {
  const auto* best = &links.front();
  for (const auto& l : links)
    if (std::abs(l.first - ranks) < std::abs(best->first - ranks)) best = &l;
  return best->second;
}

}  // namespace

void add_scaling(const std::vector<Run>& runs, const std::vector<json>& allreduce, json& summary) {
  const json& entries = summary["runs"];
  auto ranks = [&](std::size_t r) { return entries[r]["training"]["ranks"].get<int>(); };
  auto training = [&](std::size_t r) -> const json& { return entries[r]["training"]; };
  auto ips = [&](std::size_t r) { return training(r)["images_per_s_median"].get<double>(); };  // a slow step must not move a point
  auto batch = [&](std::size_t r) { return runs[r].config.get_int("train.batch_size"); };
  auto model_of = [&](std::size_t r) {
    const config::Config& c = runs[r].config;
    return fmt::format("{} base={} norm={} amp={}", c.get_string("model.name"), c.get_int("model.base_width"), c.get_string("model.norm"),
                       c.get_string("train.amp"));
  };
  std::vector<std::pair<int, scaling::Link>> links;
  for (const auto& a : allreduce) links.emplace_back(a.at("ranks").get<int>(), scaling::fit_link(a));

  json points = json::array(), models = json::array();
  auto family = [&](const char* kind, const std::function<std::string(std::size_t)>& family_of) {
    const bool weak = std::string(kind) == "weak";
    std::map<std::string, std::vector<std::size_t>> families;
    for (std::size_t r = 0; r < runs.size(); ++r)
      if (ranks(r) > 0 && training(r).contains("step_s_median")) families[family_of(r)].push_back(r);
    for (auto& [name, members] : families) {
      std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) { return ranks(a) < ranks(b); });
      if (ranks(members.front()) == ranks(members.back())) continue;  // also a family of one
      const std::size_t base = members.front();
      const double base_ips = ips(base), base_ranks = ranks(base);
      // The model: the fewest-ranks run's compute, the family's measured overlap (median), the network.
      scaling::Inputs in = inputs_from(runs[base], training(base));
      std::vector<double> overlaps;
      for (auto r : members)
        if (!training(r)["overlap"].is_null()) overlaps.push_back(training(r)["overlap"].get<double>());
      std::sort(overlaps.begin(), overlaps.end());
      in.overlap = overlaps.empty() ? 0.0 : overlaps[overlaps.size() / 2];
      const bool modelled = !links.empty() && base_ranks == 1 && !in.bucket_bytes.empty();
      for (auto r : members) {
        const double n = ranks(r), speedup = ips(r) / base_ips;
        json point = {{"kind", kind}, {"family", name}, {"run", runs[r].name}, {"ranks", n}, {"images_per_s", ips(r)},
                      {"speedup", speedup}, {"efficiency", speedup / (n / base_ranks)}, {"step_s_median", training(r)["step_s_median"]},
                      {"step_s_spread", training(r)["step_s_spread"]}, {"warmup_steps", training(r)["warmup_steps"]},
                      {"disturbed", training(r)["disturbed"]}, {"predicted_images_per_s", nullptr}, {"prediction_error", nullptr}};
        if (modelled) {
          scaling::Inputs here = in;  // this point's network and node
          here.intra = link_for(links, ranks(r));
          place(here, runs[r]);
          const double predicted = scaling::predict(here, ranks(r), batch(r)).images_per_s;
          point["predicted_images_per_s"] = predicted;
          point["prediction_error"] = ips(r) / predicted - 1;
        }
        points.push_back(point);
      }
      if (!modelled) continue;
      // The projection: every rank on cores (or a GPU) of its own, the largest measured network.
      scaling::Inputs projected = in;
      const auto widest = std::max_element(links.begin(), links.end(), [](auto& a, auto& b) { return a.first < b.first; });
      projected.intra = widest->second;
      projected.cpus = 0;
      // Strong: the global batch is the 1-rank base run's batch.
      json rows = scaling::projection_json(projected, kProjectTo, weak ? 0 : in.batch);
      for (auto& row : rows) row.erase("nodes");  // one node: not in the summary
      models.push_back({{"kind", kind}, {"family", name}, {"base_run", runs[base].name}, {"overlap", in.overlap},
                        {"forward_s", in.forward_s}, {"backward_s", in.backward_s}, {"optim_s", in.optim_s}, {"data_s", in.data_s},
                        {"loader_s", in.loader_s}, {"jitter_s", in.jitter_s}, {"batch", in.batch}, {"buckets", in.bucket_bytes.size()},
                        {"gradient_bytes", std::accumulate(in.bucket_bytes.begin(), in.bucket_bytes.end(), 0.0)},
                        {"projection_allreduce_ranks", widest->first}, {"projection", rows}});
    }
  };
  family("weak", [&](std::size_t r) { return model_of(r) + fmt::format(" batch/rank={}", batch(r)); });
  family("strong", [&](std::size_t r) { return model_of(r) + fmt::format(" global batch={}", batch(r) * static_cast<std::int64_t>(ranks(r))); });
  summary["scaling"] = points;
  summary["scaling_model"] = models;
}

std::string scaling_markdown(const json& summary) {
  if (summary["scaling"].empty()) return "";
  std::string md = "\n## Scaling\n\nFrom each run's median step time after a warm-up (the first tenth of its steps); spread = (p90 - p10) / median "
        "of the timed steps. A spread above " + fmt::format("{:.0f}", 100 * kDisturbed) + " % marks a point that was disturbed (shared nodes, a slow neighbour): measure it "
        "again. *predicted*: the scaling model (docs/SCALING.md) from the family's 1-rank run and the all-reduce benchmark "
        "(cxr-reduce --allreduce); error = measured / predicted - 1.\n\n"
        "| kind | family | run | ranks | median step s | spread | images/s | speedup | efficiency | predicted images/s | error |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& s : summary["scaling"]) {
    const bool predicted = !s["predicted_images_per_s"].is_null();
    md += fmt::format("| {} | {} | {} | {} | {:.4f} | {:.0f} %{} | {:.2f} | {:.2f} | {:.2f} | {} | {} |\n", s["kind"].get<std::string>(),
                      s["family"].get<std::string>(), s["run"].get<std::string>(), s["ranks"].get<double>(),
                      s["step_s_median"].get<double>(), 100 * s["step_s_spread"].get<double>(), s["disturbed"].get<bool>() ? " DISTURBED" : "",
                      s["images_per_s"].get<double>(), s["speedup"].get<double>(), s["efficiency"].get<double>(),
                      predicted ? fmt::format("{:.2f}", s["predicted_images_per_s"].get<double>()) : "n/a",
                      predicted ? fmt::format("{:+.1f} %", 100 * s["prediction_error"].get<double>()) : "n/a");
  }
  for (const auto& m : summary.value("scaling_model", json::array())) {
    md += fmt::format("\n### Projection: {} scaling, {}\n\nFrom {} (per step at batch {}: forward {:.4f} s, backward {:.4f} s, optimizer "
                      "{:.4f} s, loader {:.4f} s per batch, step jitter {:.4f} s), {} gradient bucket(s) of {:.1f} MB in all, overlap {:.2f}, the network of "
                      "the all-reduce benchmark at {} rank(s), every rank on cores of its own. *hidden*: whether overlap x comm still "
                      "fits behind backward.\n\n| ranks | batch/rank | step s | compute s | comm s | exposed s | images/s | efficiency | "
                      "hidden |\n|---|---|---|---|---|---|---|---|---|\n",
                      m["kind"].get<std::string>(), m["family"].get<std::string>(), m["base_run"].get<std::string>(), m["batch"].get<int>(),
                      m["forward_s"].get<double>(), m["backward_s"].get<double>(), m["optim_s"].get<double>(), m["loader_s"].get<double>(), m["jitter_s"].get<double>(),
                      m["buckets"].get<int>(), m["gradient_bytes"].get<double>() / 1e6, m["overlap"].get<double>(),
                      m["projection_allreduce_ranks"].get<int>());
    for (const auto& p : m["projection"])
      md += fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.1f} | {:.2f} | {}{} |\n", p["ranks"].get<int>(),
                        p["batch_per_rank"].get<int>(), p["step_s"].get<double>(), p["compute_s"].get<double>(), p["comm_s"].get<double>(),
                        p["exposed_s"].get<double>(), p["images_per_s"].get<double>(), p["efficiency"].get<double>(),
                        p["comm_hidden"].get<bool>() ? "yes" : "**no**", p["loader_bound"].get<bool>() ? " (loader-bound)" : "");
  }
  return md;
}

}  // namespace cxr::report
