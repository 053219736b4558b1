// cxr-eval: see lib/eval/evaluate.hpp.
//
//   mpirun -n 4 cxr-eval --run runs/a [--checkpoint best|latest|PATH] [--data DIR] [--split test]
//                        [--sigma 0.1,0.2,0.3] [--out DIR]
#include "common/tool.hpp"
#include "dist/world.hpp"
#include "eval/evaluate.hpp"

int main(int argc, char** argv) {
  return cxr::dist::run_mpi_tool("cxr-eval", argc, argv, [&](cxr::dist::World& world) {
    CLI::App app{"Evaluate a cxr-train run: PSNR, SSIM (standard and the reference's 3x3) per image for the model, "
                 "the noisy input and Gaussian/median filters; writes RUN/eval/rank-NNNNN.csv and RUN/samples/ (or into --out).",
                 "cxr-eval"};
    cxr::add_version_flag(app);
    cxr::eval::EvalOptions o;
    app.add_option("--run", o.run_dir, "run directory of cxr-train")->required();
    app.add_option("--checkpoint", o.checkpoint, "best (default), latest, or a checkpoint file");
    app.add_option("--data", o.data_dir, "dataset directory (default: the run's data.dir); without a val split (a test-only "
                   "dataset) the filters tune on the run's own");
    app.add_option("--split", o.split, "split to evaluate")->check(CLI::IsMember({"test", "val", "train"}));
    app.add_option("--sigma", o.sigmas, "noise sigmas, comma-separated (default: the run's)")->delimiter(',');
    app.add_option("--methods", o.methods, "methods, comma-separated: model, noisy, gaussian, median")->delimiter(',');
    app.add_option("--out", o.out_dir, "output directory (default: the run directory); it gets eval/, samples/ and the run's "
                   "config.yaml, so that cxr-reduce DIR reads it alone");
    app.add_option("--device", o.device, "auto (a GPU when there is one), cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    app.add_option("--batch-size", o.batch_size, "images per forward pass")->check(CLI::Range(1, 4096));
    app.add_option("--samples", o.samples, "image grids to write per sigma")->check(CLI::Range(0, 100000));
    app.add_option("--lpips-backbone", o.lpips_backbone, "AlexNet features converted by scripts/convert_alexnet_weights.py (.json)")
        ->check(CLI::ExistingFile);
    app.add_option("--lpips-lin", o.lpips_lin, "LPIPS v0.1 alex lin weights (.json), e.g. ../shared/data/lpips/converted/lpips_v0.1_alex.json")
        ->check(CLI::ExistingFile);
    app.add_option("--noise-seed", o.noise_seed, "seed of the test noise (keep it fixed to compare runs)");
    app.add_option("--timeout", o.timeout_s, "dist.timeout_s: seconds any rank may wait in a collective before it aborts the job")
        ->check(CLI::Range(1.0, 1.0e6));
    if (auto code = cxr::dist::parse_command_line(world, app, argc, argv)) return *code;
    return cxr::eval::run_evaluation(world, o);
  });
}
