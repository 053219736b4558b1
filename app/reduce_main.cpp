// cxr-reduce: see lib/report/reduce.hpp.
//
//   cxr-reduce runs/a runs/b --out summary/
#include "common/tool.hpp"
#include "dist/world.hpp"
#include "report/reduce.hpp"

int main(int argc, char** argv) {
  return cxr::dist::run_mpi_tool("cxr-reduce", argc, argv, [&](cxr::dist::World& world) {
    CLI::App app{"Reduce cxr-eval results and cxr-train logs of one or more runs into summary tables and plots.", "cxr-reduce"};
    cxr::add_version_flag(app);
    cxr::report::ReduceOptions o;
    bool no_plots = false;
    app.add_option("runs", o.runs, "run directories evaluated by cxr-eval, or its --out folders")->required();
    app.add_option("--out", o.out_dir, "directory for summary.{csv,json,md} and the plots")->required();
    app.add_flag("--no-plots", no_plots, "skip the gnuplot PNGs");
    app.add_flag("--training-only", o.training_only, "runs without cxr-eval results: training statistics and scaling only");
    app.add_option("--allreduce", o.allreduce,
                   "cxr-bench allreduce --json results (one per rank count): adds the scaling model's predictions and projection")
        ->check(CLI::ExistingFile);
    app.add_option("--timeout", o.timeout_s, "dist.timeout_s: seconds any rank may wait in a collective before it aborts the job")
        ->check(CLI::Range(1.0, 1.0e6));
    if (auto code = cxr::dist::parse_command_line(world, app, argc, argv)) return *code;
    o.plots = !no_plots;
    return cxr::report::run_reduce(world, o);
  });
}
