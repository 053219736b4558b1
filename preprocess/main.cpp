// cxr-preprocess: shards a ChestX-ray14 root into HDF5 for training. See preprocess/job.hpp.
//
//   mpirun -n 4 cxr-preprocess --input /data/nih --output /scratch/cxr256 [--size 256] [key=value ...]
#include <CLI/CLI.hpp>

#include "common/error.hpp"
#include "common/tool.hpp"
#include "config/schema.hpp"
#include "dist/world.hpp"
#include "preprocess/job.hpp"

int main(int argc, char** argv) {
  return cxr::dist::run_mpi_tool("cxr-preprocess", argc, argv, [&](cxr::dist::World& world) {
    CLI::App app{"Shard a ChestX-ray14 root (PNG + Data_Entry_2017.csv + split lists) into HDF5 for training.\n"
                 "Run under mpirun/srun to spread the shards over ranks.",
                 "cxr-preprocess"};
    cxr::add_version_flag(app);
    cxr::preprocess::JobOptions options;
    std::string config_file;
    int size = 0, shard_size = 0;
    long long seed = -1, limit = -1;
    std::vector<std::string> overrides;
    app.add_option("--input", options.input, "ChestX-ray14 root (Data_Entry_2017.csv, lists, images_*/images/*.png)")->required();
    app.add_option("--output", options.output, "dataset directory to write (<split>/shard-NNNNN.h5 + manifest.json)")->required();
    app.add_option("--config", config_file, "YAML config file")->check(CLI::ExistingFile);
    app.add_option("--size", size, "image size in pixels, 32..1024 (preprocess.image_size, default 256)");
    app.add_option("--shard-size", shard_size, "images per shard (preprocess.shard_size, default 1024)");
    app.add_option("--seed", seed, "seed for the validation split (seed, default 0)");
    app.add_option("--limit", limit, "process at most N images (preprocess.limit, default all)");
    app.add_flag("--force", options.force, "rebuild every shard, even complete ones, and replace another run's dataset");
    app.add_option("--obfuscate", options.obfuscate,
                   "an obfuscated export: train and val shards hold K noisy copies per image (noise.mean, noise.sigma), no "
                   "clean pixels, drawn from a key that is never stored; test stays clean")
        ->check(CLI::Range(1, 64));
    app.add_option("overrides", overrides, "config overrides, key.sub=value");
    if (auto code = cxr::dist::parse_command_line(world, app, argc, argv)) return *code;

    // Every rank reads the same files and flags: they agree on the result (an error prints once).
    const cxr::config::Config config = cxr::dist::all_or_none(world, [&] {
      auto c = cxr::config::load(cxr::config::project_schema(), config_file, {});
      if (size) c.set("preprocess.image_size", std::to_string(size), "--size");
      if (shard_size) c.set("preprocess.shard_size", std::to_string(shard_size), "--shard-size");
      if (seed >= 0) c.set("seed", std::to_string(seed), "--seed");
      if (limit >= 0) c.set("preprocess.limit", std::to_string(limit), "--limit");
      for (const auto& o : overrides) c.apply_override(o);
      return c;
    });
    world.set_timeout(config.get_float("dist.timeout_s"));
    options.config = &config;
    return cxr::preprocess::run(world, options);
  });
}
