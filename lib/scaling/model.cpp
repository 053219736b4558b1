#include "scaling/model.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.hpp"

namespace cxr::scaling {

double Link::beta_at(double bytes) const {
  if (beta.empty()) return 0;
  if (bytes <= beta.front().first) return beta.front().second;
  if (bytes >= beta.back().first) return beta.back().second;
  const auto hi = std::lower_bound(beta.begin(), beta.end(), std::make_pair(bytes, 0.0));
  const auto lo = hi - 1;
  const double w = std::log(bytes / lo->first) / std::log(hi->first / lo->first);
  return lo->second + w * (hi->second - lo->second);
}

double Link::ring_s(double bytes, int n) const {
  if (n <= 1) return 0;
  return 2.0 * (n - 1) * alpha_s + 2.0 * (n - 1) / n * bytes * beta_at(bytes);
}

double Link::tree_s(double bytes, int n) const {
  if (n <= 1) return 0;
  return 2.0 * std::ceil(std::log2(n)) * alpha_s + 2.0 * bytes * beta_at(bytes);
}

double Link::allreduce_s(double bytes, int n) const { return std::min(ring_s(bytes, n), tree_s(bytes, n)); }

Link fit_link(const nlohmann::json& bench) {
  const int p = bench.at("ranks").get<int>();
  const auto& rows = bench.at("rows");
  if (p < 2 || rows.empty())
    throw InputError("an all-reduce benchmark of at least 2 ranks is needed to fit the network (this one: " + std::to_string(p) + " ranks, " +
                     std::to_string(rows.size()) + " sizes)");
  std::vector<std::pair<double, double>> measured;  // (bytes, seconds)
  for (const auto& r : rows) measured.emplace_back(r.at("bytes").get<double>(), r.at("time_us").get<double>() * 1e-6);
  std::sort(measured.begin(), measured.end());
  Link link;
  link.alpha_s = measured.front().second / (2.0 * (p - 1));  // the smallest message is all latency
  for (const auto& [bytes, seconds] : measured) {
    const double moving = std::max(seconds - 2.0 * (p - 1) * link.alpha_s, 0.0);
    link.beta.emplace_back(bytes, moving / (2.0 * (p - 1) / p * bytes));
  }
  return link;
}

Link link_from_busbw(double busbw_gb_s, double alpha_us) {
  return {alpha_us * 1e-6, {{1.0, 1.0 / (busbw_gb_s * 1e9)}}};
}

double expected_max_of_normals(int n) {
  if (n <= 1) return 0;
  // E[max] = integral of x d(Phi(x)^n), numerically over [-10, 10].
  const double dx = 1e-3;
  double mean = 0, previous = 0;
  for (double x = -10; x <= 10; x += dx) {
    const double cdf = std::pow(0.5 * std::erfc(-x / std::sqrt(2.0)), n);
    mean += (x - dx / 2) * (cdf - previous);
    previous = cdf;
  }
  return mean;
}

double cpu_contention(const Inputs& in) {
  if (in.cpus <= 0) return 1.0;
  return std::max(1.0, static_cast<double>(in.ranks_sharing_cpus * in.threads_per_rank) / in.cpus);
}

Prediction predict(const Inputs& in, int ranks, std::int64_t batch_per_rank) {
  Prediction p;
  const double per_image = static_cast<double>(batch_per_rank) / static_cast<double>(in.batch);
  const int local = std::min(ranks, in.ranks_per_node);
  const double contention = cpu_contention(in);
  const double backward = in.backward_s * per_image * contention;
  p.compute_s = (in.forward_s * per_image) * contention + backward;
  const int nodes = (ranks + in.ranks_per_node - 1) / in.ranks_per_node;
  for (double bytes : in.bucket_bytes)
    p.comm_s += in.intra.allreduce_s(bytes, local) + (nodes > 1 ? in.inter.allreduce_s(bytes / local, nodes) : 0.0);
  const double want_hidden = in.overlap * p.comm_s;
  p.comm_hidden = want_hidden <= backward;
  p.exposed_s = p.comm_s - std::min(want_hidden, backward);
  const double stragglers = in.jitter_s * contention * expected_max_of_normals(ranks);
  const double step = in.data_s + p.compute_s + p.exposed_s + in.optim_s * contention + stragglers;
  const double loader = in.loader_s * per_image;
  p.loader_bound = loader > step;
  p.step_s = std::max(step, loader);
  p.images_per_s = static_cast<double>(ranks * batch_per_rank) / p.step_s;
  return p;
}

Inputs inputs_from(const ProjectionOptions& o) {
  Inputs in;
  in.batch = o.batch;
  in.forward_s = o.forward_ms / 1e3;
  in.backward_s = o.backward_ms / 1e3;
  in.optim_s = o.optimizer_ms / 1e3;
  in.loader_s = o.loader_ms / 1e3;
  in.jitter_s = o.jitter_ms / 1e3;
  // Buckets as the trainer lays them out: train.bucket_mb is in MiB.
  const double bucket = o.bucket_mb * 1024 * 1024;
  for (double left = o.gradient_mb * 1e6; left > 0.5; left -= bucket) in.bucket_bytes.push_back(std::min(left, bucket));
  in.ranks_per_node = o.gpus_per_node;
  in.intra = link_from_busbw(o.intra_busbw_gb_s, o.intra_alpha_us);
  // Each rank carries 1/gpus_per_node of every message across nodes on its share of the NICs.
  in.inter = link_from_busbw(o.inter_busbw_gb_s / o.gpus_per_node, o.inter_alpha_us);
  in.overlap = o.overlap;
  return in;
}

nlohmann::json projection_json(const Inputs& in, int max_ranks, std::int64_t global_batch) {
  nlohmann::json rows = nlohmann::json::array();
  const double one = predict(in, 1, global_batch > 0 ? global_batch : in.batch).images_per_s;
  for (int n = 1; n <= max_ranks; n *= 2) {
    const std::int64_t per_rank = global_batch > 0 ? global_batch / n : in.batch;
    if (per_rank < 1) break;
    const Prediction p = predict(in, n, per_rank);
    rows.push_back({{"ranks", n}, {"batch_per_rank", per_rank}, {"nodes", (n + in.ranks_per_node - 1) / in.ranks_per_node}, {"step_s", p.step_s},
                    {"compute_s", p.compute_s}, {"comm_s", p.comm_s}, {"exposed_s", p.exposed_s}, {"images_per_s", p.images_per_s},
                    {"efficiency", p.images_per_s / (one * n)}, {"comm_hidden", p.comm_hidden}, {"loader_bound", p.loader_bound}});
  }
  return rows;
}

std::string projection_markdown(const Inputs& in, int max_ranks, std::int64_t global_batch) {
  std::string md = "| ranks | nodes | batch/rank | step ms | compute ms | all-reduce ms | exposed ms | images/s | efficiency | hidden |\n"
                   "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : projection_json(in, max_ranks, global_batch))
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.0f} | {:.2f} | {} |\n", r["ranks"].get<int>(), r["nodes"].get<int>(),
                      r["batch_per_rank"].get<std::int64_t>(),
                      1e3 * r["step_s"].get<double>(), 1e3 * r["compute_s"].get<double>(), 1e3 * r["comm_s"].get<double>(),
                      1e3 * r["exposed_s"].get<double>(), r["images_per_s"].get<double>(), r["efficiency"].get<double>(),
                      r["comm_hidden"].get<bool>() ? "yes" : "**no**");
  return md;
}

}  // namespace cxr::scaling
