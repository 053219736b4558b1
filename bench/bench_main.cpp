// cxr-bench: the measurements behind docs/BENCHMARKS.md for the data path.
//
//   cxr-bench decode --input NIH_ROOT [--size 256] [--repeat 3]
//       the floor for cxr-preprocess: read + decode every PNG (and resize, with --size)
//   cxr-bench read --dataset DIR [--repeat 3]
//       HDF5 read speed of a cxr-preprocess dataset, one reader, images/s
//   cxr-bench compression --input NIH_ROOT [--size 256]
//       one shard written at several deflate levels: bytes per image, write and read speed
//   cxr-bench loader --dataset DIR [--batch 64] [--steps 20] [--threads N]
//       the trainer's data path (read + noise), images/s: what a GPU step can be fed
//   mpirun -n N cxr-bench allreduce [--backend auto|mpi|nccl] [--dtype float32|bfloat16|float16]
//            [--min-bytes 1024] [--max-bytes 536870912] [--factor 2] [--warmup 5] [--iters 20]
//            [--buckets MB --model unet --base-width 64 --depth 4]
//       the gradients' collective, as nccl-tests measures it (time, algbw, busbw, checked result)
//
// Each prints a '#'-commented table and, with --json FILE, the same numbers as JSON.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/tool.hpp"
#include "image/image.hpp"
#include "shards/manifest.hpp"
#include "shards/shard.hpp"
#ifdef CXR_BENCH_LOADER
#include "allreduce_bench.hpp"
#include "loader_bench.hpp"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> png_files(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".png") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw std::runtime_error("no PNG files under " + root);
  return out;
}

// Best of `repeat` timings of fn(), which returns the number of images it handled.
json best_of(int repeat, const std::function<std::size_t()>& fn) {
  double best = 1e30;
  std::size_t n = 0;
  for (int r = 0; r < repeat; ++r) {
    const double t0 = now_s();
    n = fn();
    best = std::min(best, now_s() - t0);
  }
  return {{"images", n}, {"seconds", best}, {"images_per_s", static_cast<double>(n) / best}, {"repeat", repeat}};
}

json bench_decode(const std::string& root, int size, int repeat) {
  const auto files = png_files(root);
  // Read the files once first so every timing starts from the page cache.
  for (const auto& f : files) cxr::read_binary_file(f);
  json j = {{"what", "decode"}, {"files", files.size()}};
  j["decode"] = best_of(repeat, [&] {
    for (const auto& f : files) cxr::image::read_png(f);
    return files.size();
  });
  if (size > 0)
    j["decode_resize"] = best_of(repeat, [&] {
      for (const auto& f : files) cxr::image::resize_bicubic(cxr::image::read_png(f), size, size);
      return files.size();
    });
  std::cout << fmt::format("# decode floor over {} PNGs under {} (best of {})\n", files.size(), root, repeat);
  std::cout << fmt::format("{:<22} {:>10} {:>12}\n", "# step", "seconds", "images/s");
  std::cout << fmt::format("{:<22} {:>10.3f} {:>12.1f}\n", "decode", j["decode"]["seconds"].get<double>(),
                           j["decode"]["images_per_s"].get<double>());
  if (size > 0)
    std::cout << fmt::format("{:<22} {:>10.3f} {:>12.1f}\n", fmt::format("decode+resize {}", size),
                             j["decode_resize"]["seconds"].get<double>(), j["decode_resize"]["images_per_s"].get<double>());
  return j;
}

json bench_read(const std::string& dataset, int repeat) {
  std::vector<std::string> shard_files;
  for (const auto& [name, split] : cxr::shards::read_manifest(dataset).splits)
    for (const auto& sh : split.shards) shard_files.push_back((fs::path(dataset) / sh.file).string());
  std::size_t bytes = 0;
  for (const auto& f : shard_files) bytes += fs::file_size(f);
  json j = {{"what", "read"}, {"dataset", dataset}, {"shards", shard_files.size()}, {"bytes", bytes}};
  j["sequential"] = best_of(repeat, [&] {
    std::size_t n = 0;
    for (const auto& f : shard_files) {
      cxr::shards::ShardReader r(f);
      const auto s = static_cast<std::size_t>(r.info().image_size);
      std::vector<std::uint8_t> img(s * s);
      for (std::size_t i = 0; i < r.info().count; ++i, ++n) r.read_image(i, img.data());
    }
    return n;
  });
  std::cout << fmt::format("# HDF5 read of {} ({} shards, {:.1f} MB), one reader, one image per call (best of {})\n",
                           dataset, shard_files.size(), static_cast<double>(bytes) / 1e6, repeat);
  std::cout << fmt::format("{:<22} {:>10.3f} {:>12.1f}\n", "read", j["sequential"]["seconds"].get<double>(),
                           j["sequential"]["images_per_s"].get<double>());
  return j;
}

json bench_compression(const std::string& root, int size) {
  const auto files = png_files(root);
  std::vector<cxr::image::Gray8> images;
  for (const auto& f : files) images.push_back(cxr::image::resize_bicubic(cxr::image::read_png(f), size, size));
  const fs::path dir = fs::temp_directory_path() / ("cxr-bench-compression-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  json rows = json::array();
  std::cout << fmt::format("# one shard of {} images at {}x{} per deflate level\n", images.size(), size, size);
  std::cout << fmt::format("{:<8} {:>14} {:>8} {:>14} {:>14}\n", "# level", "bytes/image", "ratio", "write img/s", "read img/s");
  for (int level : {0, 1, 4, 6, 9}) {
    const std::string path = (dir / fmt::format("l{}.h5", level)).string();
    const double t0 = now_s();
    {
      cxr::shards::ShardWriter w(path, {"train", size, images.size(), level, "bench"});
      for (std::size_t i = 0; i < images.size(); ++i) w.append(images[i].pixels.data(), {std::to_string(i), 0, 0, "PA", "M", 0, 0});
      w.close();
    }
    const double write_s = now_s() - t0;
    const json read = best_of(3, [&] {
      cxr::shards::ShardReader r(path);
      std::vector<std::uint8_t> img(static_cast<std::size_t>(size) * static_cast<std::size_t>(size));
      for (std::size_t i = 0; i < r.info().count; ++i) r.read_image(i, img.data());
      return r.info().count;
    });
    const double per_image = static_cast<double>(fs::file_size(path)) / static_cast<double>(images.size());
    const double ratio = static_cast<double>(size * size) / per_image;
    rows.push_back({{"level", level}, {"bytes_per_image", per_image}, {"ratio", ratio},
                    {"write_images_per_s", static_cast<double>(images.size()) / write_s},
                    {"read_images_per_s", read["images_per_s"]}});
    std::cout << fmt::format("{:<8} {:>14.0f} {:>8.2f} {:>14.1f} {:>14.1f}\n", level, per_image, ratio,
                             static_cast<double>(images.size()) / write_s, read["images_per_s"].get<double>());
  }
  fs::remove_all(dir);
  return {{"what", "compression"}, {"images", images.size()}, {"size", size}, {"levels", rows}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data-path benchmarks for docs/BENCHMARKS.md", "cxr-bench"};
  cxr::add_version_flag(app);
  app.require_subcommand(1);
  std::string input, dataset, json_out;
  int size = 256, repeat = 3;
  auto* decode = app.add_subcommand("decode", "read + decode (+ resize) every PNG under a root: the preprocess floor");
  decode->add_option("--input", input, "directory with PNGs")->required();
  decode->add_option("--size", size, "also time decode + resize to this size (0: skip)");
  decode->add_option("--repeat", repeat, "take the best of this many passes");
  auto* read = app.add_subcommand("read", "HDF5 read speed of a dataset, one reader");
  read->add_option("--dataset", dataset, "cxr-preprocess output")->required();
  read->add_option("--repeat", repeat, "take the best of this many passes");
  auto* comp = app.add_subcommand("compression", "shard size and speed per deflate level");
  comp->add_option("--input", input, "directory with PNGs")->required();
  comp->add_option("--size", size, "image size");
  int batch = 64, steps = 20, threads = 0;
  auto* loader = app.add_subcommand("loader", "the trainer's data path (HDF5 read + noise), images/s");
  loader->add_option("--dataset", dataset, "cxr-preprocess output")->required();
  loader->add_option("--batch", batch, "images per batch")->check(CLI::Range(1, 65536));
  loader->add_option("--steps", steps, "batches to time (at most one epoch)")->check(CLI::Range(2, 1000000));
  loader->add_option("--threads", threads, "threads for the noise (0: one per core, as cxr-train with one rank)");
#ifdef CXR_BENCH_LOADER
  AllReduceBenchOptions ar;
  auto* allreduce = app.add_subcommand("allreduce", "the all-reduce of the gradients, nccl-tests style (run under mpirun/srun)");
  allreduce->add_option("--backend", ar.backend, "auto (NCCL with a GPU), mpi or nccl")->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  allreduce->add_option("--dtype", ar.dtype, "float32, or bfloat16/float16 with NCCL")->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  allreduce->add_option("--min-bytes", ar.min_bytes, "smallest message");
  allreduce->add_option("--max-bytes", ar.max_bytes, "largest message");
  allreduce->add_option("--factor", ar.factor, "message growth per row");
  allreduce->add_option("--warmup", ar.warmup, "untimed calls per size")->check(CLI::Range(0, 100000));
  allreduce->add_option("--iters", ar.iters, "timed calls per size")->check(CLI::Range(1, 100000));
  allreduce->add_option("--buckets", ar.buckets_mb, "instead of a sweep: the trainer's gradient buckets of this many MB");
  allreduce->add_option("--model", ar.model, "--buckets: unet or unetpp")->check(CLI::IsMember({"unet", "unetpp"}));
  allreduce->add_option("--base-width", ar.base_width, "--buckets: channels at full resolution");
  allreduce->add_option("--depth", ar.depth, "--buckets: downsamplings");
  allreduce->add_option("--json", json_out, "also write the numbers as JSON to this file (rank 0)");
#endif
  for (auto* sub : {decode, read, comp, loader}) sub->add_option("--json", json_out, "also write the numbers as JSON to this file");
  if (auto code = cxr::parse_command_line(app, argc, argv)) return *code;
#ifdef CXR_BENCH_LOADER
  if (*allreduce)  // an MPI job: errors and exit codes as every MPI tool's; wrong results exit 1
    return cxr::dist::run_mpi_tool("cxr-bench", argc, argv, [&](cxr::dist::World& world) {
      const json j = bench_allreduce(world, ar);
      if (world.is_root() && !json_out.empty()) cxr::write_file_atomic(json_out, j.dump(2) + "\n");
      return j["wrong"].get<std::int64_t>() > 0 ? 1 : 0;
    });
#endif
  try {
    json j;
    if (*decode) j = bench_decode(input, size, repeat);
    if (*read) j = bench_read(dataset, repeat);
    if (*comp) j = bench_compression(input, size);
    if (*loader) {
#ifdef CXR_BENCH_LOADER
      j = bench_loader(dataset, batch, steps, threads);
#else
      throw std::runtime_error("this build has no LibTorch (CXR_WITH_TORCH=OFF): no loader benchmark");
#endif
    }
    if (!json_out.empty()) cxr::write_file_atomic(json_out, j.dump(2) + "\n");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cxr-bench: " << e.what() << "\n";
    return 1;
  }
}
