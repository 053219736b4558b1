// cxr-train: data-parallel training of a U-Net / U-Net++ denoiser. See lib/train/trainer.hpp.
//
//   mpirun -n 4 cxr-train --config configs/unet-sigma0.1-ddp.yaml --data /scratch/cxr256 --run-dir runs/a [key=value ...]
//
// Restarting the same command resumes from the run directory's latest checkpoint. Exit codes:
// 0 done, 2 bad input, 1 failure, 75 stopped by SIGUSR1/SIGTERM after a checkpoint (requeue me).
#include <iostream>

#include "common/error.hpp"
#include "common/tool.hpp"
#include "config/schema.hpp"
#include "dist/world.hpp"
#include "train/trainer.hpp"

int main(int argc, char** argv) {
  cxr::train::install_stop_handlers();
  return cxr::dist::run_mpi_tool("cxr-train", argc, argv, [&](cxr::dist::World& world) {
    CLI::App app{"Train a denoiser (U-Net, U-Net++) on a cxr-preprocess dataset, data-parallel over MPI ranks.\n"
                 "Restarting the same command resumes from the run directory's latest checkpoint.",
                 "cxr-train"};
    cxr::add_version_flag(app);
    std::string config_file, data, run_dir, model, norm;
    double sigma = -1;
    long long epochs = 0, batch = 0, seed = -1, max_steps = -1;
    std::vector<std::string> overrides;
    bool print_config = false;
    app.add_flag("--print-config", print_config, "print the effective configuration (YAML) and exit");
    app.add_option("--config", config_file, "YAML config (configs/*.yaml)")->check(CLI::ExistingFile);
    app.add_option("--data", data, "dataset directory from cxr-preprocess (data.dir)");
    app.add_option("--run-dir", run_dir, "run directory for checkpoints and logs (train.run_dir)");
    app.add_option("--model", model, "unet or unetpp (model.name)");
    app.add_option("--norm", norm, "batch, syncbatch, group or none (model.norm)");
    app.add_option("--sigma", sigma, "noise standard deviation (noise.sigma)");
    app.add_option("--epochs", epochs, "epochs (train.epochs)");
    app.add_option("--batch-size", batch, "images per rank per step (train.batch_size)");
    app.add_option("--seed", seed, "seed (seed)");
    app.add_option("--max-steps", max_steps, "stop after this many steps in total (train.max_steps)");
    app.add_option("overrides", overrides, "config overrides, key.sub=value");
    if (auto code = cxr::dist::parse_command_line(world, app, argc, argv)) return *code;

    // Every rank reads the same files and flags: they agree on the result (an error prints once).
    const cxr::config::Config config = cxr::dist::all_or_none(world, [&] {
      auto c = cxr::config::load(cxr::config::project_schema(), config_file, {});
      if (!data.empty()) c.set("data.dir", data, "--data");
      if (!run_dir.empty()) c.set("train.run_dir", run_dir, "--run-dir");
      if (!model.empty()) c.set("model.name", model, "--model");
      if (!norm.empty()) c.set("model.norm", norm, "--norm");
      if (sigma >= 0) c.set("noise.sigma", std::to_string(sigma), "--sigma");
      if (epochs > 0) c.set("train.epochs", std::to_string(epochs), "--epochs");
      if (batch > 0) c.set("train.batch_size", std::to_string(batch), "--batch-size");
      if (seed >= 0) c.set("seed", std::to_string(seed), "--seed");
      if (max_steps >= 0) c.set("train.max_steps", std::to_string(max_steps), "--max-steps");
      for (const auto& o : overrides) c.apply_override(o);
      return c;
    });
    if (print_config) {
      if (world.is_root()) std::cout << config.to_yaml();
      return static_cast<int>(cxr::kExitOk);
    }
    return cxr::train::run_training(world, config);
  });
}
