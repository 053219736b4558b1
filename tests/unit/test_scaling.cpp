#include <doctest/doctest.h>

#include <cmath>

#include "helpers.hpp"
#include "report/reduce.hpp"
#include "scaling/model.hpp"

using namespace cxr;
using nlohmann::json;

namespace {
// A cxr-bench allreduce result of `ranks` ranks on a network of latency alpha and link time beta.
json bench_of(int ranks, double alpha_s, double beta_s_per_byte) {
  json rows = json::array();
  for (double bytes = 1024; bytes <= 64e6; bytes *= 4) {
    const double t = 2.0 * (ranks - 1) * alpha_s + 2.0 * (ranks - 1) / ranks * bytes * beta_s_per_byte;
    rows.push_back({{"bytes", bytes}, {"time_us", t * 1e6}});
  }
  rows[0]["time_us"] = 2.0 * (ranks - 1) * alpha_s * 1e6;  // the smallest message: latency only
  return {{"ranks", ranks}, {"rows", rows}};
}

scaling::Inputs inputs() {
  scaling::Inputs in;
  in.batch = 4;
  in.forward_s = 0.1;
  in.backward_s = 0.2;
  in.optim_s = 0.02;
  in.loader_s = 0.05;
  in.bucket_bytes = {1e6, 1e6};
  in.overlap = 0.5;
  in.intra = scaling::link_from_busbw(1.0, 10);  // 1 GB/s, 10 us
  return in;
}

// A run whose rank logs hold 20 steps of `step_s` (the phases as the model reads them).
report::Run run_of(const std::string& name, int ranks, std::int64_t batch, double step_s, double overlap) {
  report::Run run;
  run.dir = run.name = name;
  run.config.set("train.batch_size", std::to_string(batch), "test");
  for (int r = 0; r < ranks; ++r) {
    rundir::StepLog log;
    log.setups.push_back({ranks, 1, 1, 1, {2e6, 2e6}});  // each rank bound to a core of its own
    for (int k = 1; k <= 20; ++k) {
      rundir::StepRecord s;
      s.step = k;
      s.step_s = step_s;
      s.forward_s = 0.1;
      s.backward_s = 0.3;
      s.optim_s = 0.02;
      s.comm_wire_s = ranks > 1 ? 0.01 : 0;
      s.comm_exposed_s = s.comm_wire_s * (1 - overlap);
      s.comm_bytes = ranks > 1 ? 4e6 : 0;
      log.steps.push_back(s);
    }
    run.logs.push_back(log);
  }
  return run;
}
}  // namespace

TEST_SUITE("scaling") {
  TEST_CASE("the network: alpha and beta recovered from an all-reduce sweep; ring against tree") {
    const scaling::Link link = scaling::fit_link(bench_of(2, 5e-6, 1e-9));
    CHECK(link.alpha_s == doctest::Approx(5e-6));
    CHECK(link.beta_at(1e6) == doctest::Approx(1e-9));
    CHECK(link.beta_at(1e12) == doctest::Approx(1e-9));  // clamped beyond the sweep
    // 8 ranks, 1 MB: ring 14 alpha + 1.75 MB beta; tree 6 alpha + 2 MB beta.
    CHECK(link.ring_s(1e6, 8) == doctest::Approx(14 * 5e-6 + 1.75e-3));
    CHECK(link.tree_s(1e6, 8) == doctest::Approx(6 * 5e-6 + 2e-3));
    CHECK(link.allreduce_s(1e6, 8) == doctest::Approx(link.ring_s(1e6, 8)));  // bandwidth-bound: the ring
    CHECK(link.allreduce_s(1024, 1024) == doctest::Approx(link.tree_s(1024, 1024)));  // latency-bound: the tree
    CHECK(link.allreduce_s(1e6, 1) == 0);
    CHECK(CXR_ERROR_OF(scaling::fit_link(bench_of(1, 1e-6, 1e-9))).find("at least 2 ranks") != std::string::npos);
  }

  TEST_CASE("stragglers: the expected maximum of n normal draws") {
    CHECK(scaling::expected_max_of_normals(1) == 0);
    CHECK(scaling::expected_max_of_normals(2) == doctest::Approx(1 / std::sqrt(M_PI)).epsilon(1e-4));
    CHECK(scaling::expected_max_of_normals(4) == doctest::Approx(1.0294).epsilon(1e-3));
    CHECK(scaling::expected_max_of_normals(1024) == doctest::Approx(3.2482).epsilon(1e-3));
    scaling::Inputs in = inputs();
    const double without = scaling::predict(in, 4, 4).step_s;
    in.jitter_s = 0.01;
    CHECK(scaling::predict(in, 4, 4).step_s - without == doctest::Approx(0.01 * 1.0294).epsilon(1e-3));
  }

  TEST_CASE("a step predicted by hand: compute, comm, hidden behind backward, contention, the loader") {
    scaling::Inputs in = inputs();
    const scaling::Prediction two = scaling::predict(in, 2, 4);
    const double bucket = 2 * 10e-6 + 1e6 * 1e-9;  // ring on 2 ranks: 2 alpha + S beta
    CHECK(two.comm_s == doctest::Approx(2 * bucket));
    CHECK(two.exposed_s == doctest::Approx(bucket));  // half hidden
    CHECK(two.step_s == doctest::Approx(0.1 + 0.2 + bucket + 0.02));
    CHECK(two.images_per_s == doctest::Approx(8 / two.step_s));
    CHECK(two.comm_hidden);
    // Four CPU ranks of one thread on a 2-core node: compute and optimizer take twice as long.
    in.cpus = 2;
    in.ranks_sharing_cpus = 4;
    CHECK(scaling::predict(in, 4, 4).compute_s == doctest::Approx(0.6));
    // Strong scaling halves the per-rank batch, and compute with it.
    in.cpus = 0;
    CHECK(scaling::predict(in, 2, 2).compute_s == doctest::Approx(0.15));
    // Communication longer than backward stops hiding behind it.
    in.overlap = 1;
    in.bucket_bytes = {1e9};
    const scaling::Prediction slow = scaling::predict(in, 2, 4);
    CHECK_FALSE(slow.comm_hidden);
    CHECK(slow.exposed_s == doctest::Approx(slow.comm_s - 0.2));
    // A loader slower than the step bounds it.
    in.bucket_bytes = {};
    in.loader_s = 1.0;
    CHECK(scaling::predict(in, 2, 4).loader_bound);
    CHECK(scaling::predict(in, 2, 4).step_s == doctest::Approx(1.0));
  }

  TEST_CASE("two nodes: the all-reduce inside each node plus each rank's share across nodes") {
    scaling::Inputs in = inputs();
    in.bucket_bytes = {8e6};
    in.ranks_per_node = 4;
    in.inter = scaling::link_from_busbw(0.5, 20);
    const scaling::Prediction p = scaling::predict(in, 8, 4);
    // Inside a node, a ring of 4 at 1 GB/s, 10 us: 6 alpha + 1.5 x 8 MB x 1 ns = 12.06 ms; across the
    // 2 nodes each rank's quarter, a ring of 2 at 0.5 GB/s, 20 us: 2 alpha + 2 MB x 2 ns = 4.04 ms.
    CHECK(p.comm_s == doctest::Approx(0.01206 + 0.00404));
  }

  TEST_CASE("cxr-reduce: the model's prediction next to each measured point, and a projection to 1,024 ranks") {
    const std::vector<report::Run> runs = {run_of("r1", 1, 4, 0.42, 0), run_of("r2", 2, 4, 0.44, 0.5)};
    json summary = report::make_summary(runs, {}, {bench_of(2, 5e-6, 1e-9)});
    const json& points = summary["scaling"];
    REQUIRE(points.size() == 2);  // weak only: the strong family (global batch 4 vs 8) differs
    const scaling::Link link = scaling::fit_link(bench_of(2, 5e-6, 1e-9));
    const double comm = 2 * link.allreduce_s(2e6, 2), expected_step = 0.1 + 0.3 + comm * 0.5 + 0.02;
    CHECK(points[1]["predicted_images_per_s"].get<double>() == doctest::Approx(8 / expected_step));
    CHECK(points[1]["prediction_error"].get<double>() == doctest::Approx((8 / 0.44) / (8 / expected_step) - 1));
    const json& model = summary["scaling_model"].at(0);
    CHECK(model["overlap"].get<double>() == doctest::Approx(0.5));
    CHECK(model["projection"].size() == 11);  // 1, 2, 4, ... 1,024
    CHECK(model["projection"].back()["ranks"] == 1024);
    CHECK(model["projection"][0]["efficiency"].get<double>() == doctest::Approx(1.0));
    const std::string md = report::scaling_markdown(summary);
    CHECK(md.find("### Projection: weak scaling") != std::string::npos);
    CHECK(md.find("| 1024 | 4 |") != std::string::npos);
    // Without the benchmark: the points, no predictions.
    const json plain = report::make_summary(runs, {});
    CHECK(plain["scaling"][1]["predicted_images_per_s"].is_null());
    CHECK(plain["scaling_model"].empty());
  }

  TEST_CASE("cxr-scale's stated inputs: buckets of the gradient, each rank's share of the node's network") {
    scaling::ProjectionOptions o;
    o.batch = 16;
    o.forward_ms = 20;
    o.backward_ms = 40;
    o.gradient_mb = 124;
    o.bucket_mb = 25;
    o.gpus_per_node = 8;
    o.intra_busbw_gb_s = 300;
    o.inter_busbw_gb_s = 200;
    const scaling::Inputs in = scaling::inputs_from(o);
    const double mib25 = 25 * 1048576.0;  // train.bucket_mb counts MiB
    CHECK(in.bucket_bytes == std::vector<double>{mib25, mib25, mib25, mib25, 124e6 - 4 * mib25});
    CHECK(in.inter.beta_at(1e6) == doctest::Approx(8 / 200e9));
    const json rows = scaling::projection_json(in, 1024);
    CHECK(rows.size() == 11);
    CHECK(rows[4]["nodes"] == 2);  // 16 ranks
    // 2 nodes: inside each node as before, plus each rank's eighth across: 2(2-1)/2 x 124 MB / 200 GB/s more.
    CHECK(rows[4]["comm_s"].get<double>() - rows[3]["comm_s"].get<double>() == doctest::Approx(124e6 / 200e9).epsilon(0.01));
  }
}
