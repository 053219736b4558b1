// cxr-scale: the scaling model (docs/SCALING.md) projected from stated inputs: per-step compute
// at a per-rank batch, the gradient size and bucket size, and the network inside and between
// nodes. Prints the weak-scaling table from 1 rank up to --max-ranks (cxr-reduce --allreduce
// does the same from measured runs).
//
//   cxr-scale --batch 16 --forward-ms 20 --backward-ms 40 --gradient-mb 124 --gpus-per-node 8
//             --intra-busbw 300 --inter-busbw 200 --overlap 0.8
#include <iostream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/tool.hpp"
#include "scaling/model.hpp"

int main(int argc, char** argv) {
  cxr::setup_logging("cxr-scale");
  CLI::App app{"Project data-parallel training from 1 to N ranks with the scaling model (docs/SCALING.md).", "cxr-scale"};
  cxr::add_version_flag(app);
  cxr::scaling::ProjectionOptions o;
  std::string json_out;
  const auto positive = CLI::PositiveNumber;
  app.add_option("--batch", o.batch, "images per rank per step")->check(positive);
  app.add_option("--forward-ms", o.forward_ms, "forward pass per step at --batch, ms")->required()->check(CLI::NonNegativeNumber);
  app.add_option("--backward-ms", o.backward_ms, "backward pass per step at --batch, ms")->required()->check(CLI::NonNegativeNumber);
  app.add_option("--optimizer-ms", o.optimizer_ms, "optimizer step, ms")->check(CLI::NonNegativeNumber);
  app.add_option("--loader-ms", o.loader_ms, "what the loader spends on one batch, ms (its ceiling)")->check(CLI::NonNegativeNumber);
  app.add_option("--jitter-ms", o.jitter_ms, "standard deviation of one rank's step time, ms (stragglers)")->check(CLI::NonNegativeNumber);
  app.add_option("--gradient-mb", o.gradient_mb, "gradient bytes all-reduced per step, MB (fp32: 4 x parameters)")->check(positive);
  app.add_option("--bucket-mb", o.bucket_mb, "gradient bucket size in MiB (train.bucket_mb)")->check(positive);
  app.add_option("--gpus-per-node", o.gpus_per_node, "ranks per node")->check(positive);
  app.add_option("--intra-busbw", o.intra_busbw_gb_s, "all-reduce bus bandwidth inside a node, GB/s (nccl-tests busbw)")->required()->check(positive);
  app.add_option("--intra-alpha-us", o.intra_alpha_us, "latency per hop inside a node, us")->check(CLI::NonNegativeNumber);
  app.add_option("--inter-busbw", o.inter_busbw_gb_s, "a node's network bandwidth to the others, GB/s (all its NICs)")->required()->check(positive);
  app.add_option("--inter-alpha-us", o.inter_alpha_us, "latency per hop between nodes, us")->check(CLI::NonNegativeNumber);
  app.add_option("--overlap", o.overlap, "fraction of the all-reduce hidden behind backward (cxr-reduce measures it)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--max-ranks", o.max_ranks, "largest rank count")->check(CLI::Range(1, 1 << 20));
  app.add_option("--global-batch", o.global_batch, "also strong scaling: this many images per step split over the ranks")->check(positive);
  app.add_option("--json", json_out, "also write the rows as JSON");
  if (auto code = cxr::parse_command_line(app, argc, argv)) return *code;
  return cxr::run_tool([&] {
    const cxr::scaling::Inputs in = cxr::scaling::inputs_from(o);
    std::cout << "Weak scaling, " << o.batch << " images per rank:\n\n" << cxr::scaling::projection_markdown(in, o.max_ranks);
    nlohmann::json out = {{"weak", cxr::scaling::projection_json(in, o.max_ranks)}};
    if (o.global_batch > 0) {
      std::cout << "\nStrong scaling, " << o.global_batch << " images per step over all ranks:\n\n"
                << cxr::scaling::projection_markdown(in, o.max_ranks, o.global_batch);
      out["strong"] = cxr::scaling::projection_json(in, o.max_ranks, o.global_batch);
    }
    if (!json_out.empty()) cxr::write_file_atomic(json_out, out.dump(2) + "\n");
    return static_cast<int>(cxr::kExitOk);
  });
}
