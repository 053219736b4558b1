#pragma once
// A scaling model for data-parallel training, fitted from measurements and stated in plain words
// in docs/SCALING.md. One step on N ranks of per-rank batch b:
//
//   compute  = (forward + backward) per image x b x contention      (from a 1-rank run)
//   comm     = sum over the gradient buckets of the all-reduce cost (alpha-beta, below)
//   hidden   = min(overlap x comm, backward)   communication hides behind backward, no further
//   wait     = jitter x E[max of N standard normals]   a synchronous step waits for its slowest rank
//   step     = max(data + compute + (comm - hidden) + optimizer + wait, loader time per batch)
//
// The all-reduce of S bytes over n ranks, ring or tree, whichever is cheaper (as NCCL picks):
//   ring  2(n-1) alpha + 2(n-1)/n S beta(S)         tree  2 ceil(log2 n) alpha + 2 S beta(S)
// alpha (latency per hop) and beta(S) (seconds per byte on a link) come from a cxr-bench
// allreduce sweep: beta depends on the message size here because caches make small messages
// faster than large ones, so it is interpolated from the sweep rather than taken as one number.
// Across nodes, hierarchically: the all-reduce inside each node, plus one over the nodes of each
// rank's 1/ranks_per_node share on its part of the node's network (`inter`: per-rank busbw).
// Contention models CPU ranks that share their CPUs (oversubscription): compute, the optimizer
// and the step jitter slow by ranks x threads / CPUs where that exceeds 1; GPUs have none.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxr::scaling {

// The cost of moving bytes over one kind of link.
struct Link {
  double alpha_s = 0;                              // latency per hop
  std::vector<std::pair<double, double>> beta;     // (message bytes, seconds per byte), by size
  double beta_at(double bytes) const;              // log-size interpolation, clamped at the ends
  double allreduce_s(double bytes, int ranks) const;  // min(ring, tree)
  double ring_s(double bytes, int ranks) const;
  double tree_s(double bytes, int ranks) const;
};

// A link fitted to a cxr-bench allreduce JSON (its rows: bytes, time_us; its ranks): alpha from
// the smallest message, beta(S) from every message after taking the latency off.
Link fit_link(const nlohmann::json& allreduce_bench);
// A link from a stated bus bandwidth (GB/s, nccl-tests' busbw) and latency: a projection's.
Link link_from_busbw(double busbw_gb_s, double alpha_us);

struct Inputs {
  // From the 1-rank run (medians after the warm-up) at its batch.
  std::int64_t batch = 1;
  double forward_s = 0, backward_s = 0, optim_s = 0, data_s = 0;
  double loader_s = 0;  // what the background loader spends on one batch (its ceiling)
  double jitter_s = 0;  // standard deviation of one rank's step time (from the 1-rank run's spread)
  // The trainer's gradient buckets, bytes each, in all-reduce order.
  std::vector<double> bucket_bytes;
  double overlap = 0;  // measured fraction of the all-reduce hidden behind backward (0: none)
  // The network: `intra` inside a node of ranks_per_node ranks; `inter` between nodes, per rank.
  Link intra, inter;
  int ranks_per_node = 1 << 30;  // default: every rank on one node
  // CPU ranks: the CPUs a rank may run on, how many ranks share them and each rank's threads.
  // 0 CPUs: no contention (GPUs; ranks on cores of their own).
  int cpus = 0, ranks_sharing_cpus = 1, threads_per_rank = 1;
};

struct Prediction {
  double compute_s = 0, comm_s = 0, exposed_s = 0, step_s = 0, images_per_s = 0;
  bool comm_hidden = true;  // all of overlap x comm fits behind backward
  bool loader_bound = false;
};

// E[max of n independent standard normal draws]: 0 for 1, 1/sqrt(pi) for 2, 3.25 for 1,024.
double expected_max_of_normals(int n);

// How much slower a rank computes for sharing its CPUs (1: not at all).
double cpu_contention(const Inputs& in);

// One step on `ranks` ranks with `batch_per_rank` images each.
Prediction predict(const Inputs& in, int ranks, std::int64_t batch_per_rank);

// cxr-scale: a projection from stated inputs (what a cluster's admin knows or assumes) rather
// than from runs. Times per step at `batch` images per rank; links by bus bandwidth and latency.
struct ProjectionOptions {
  std::int64_t batch = 16;
  double forward_ms = 0, backward_ms = 0, optimizer_ms = 0, loader_ms = 0, jitter_ms = 0;
  double gradient_mb = 124;  // MB (1e6 bytes)
  double bucket_mb = 25;     // MiB, as train.bucket_mb
  int gpus_per_node = 8;
  double intra_busbw_gb_s = 0, intra_alpha_us = 0;  // inside a node (NVLink)
  double inter_busbw_gb_s = 0, inter_alpha_us = 0;  // a node's whole network bandwidth (all its NICs)
  double overlap = 0;
  int max_ranks = 1024;
  std::int64_t global_batch = 0;  // > 0: also strong scaling, this many images per step over all ranks
};
Inputs inputs_from(const ProjectionOptions& o);
// The projection as a Markdown table, and its rows as JSON: weak scaling (in.batch per rank)
// or, with global_batch > 0, strong scaling (global_batch / ranks per rank, while that is >= 1).
std::string projection_markdown(const Inputs& in, int max_ranks, std::int64_t global_batch = 0);
nlohmann::json projection_json(const Inputs& in, int max_ranks, std::int64_t global_batch = 0);

}  // namespace cxr::scaling
