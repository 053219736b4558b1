#include "eval/evaluate.hpp"

#include <algorithm>
#include <optional>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "config/run_config.hpp"
#include "config/schema.hpp"
#include "dist/communicator.hpp"
#include "device/device.hpp"
#include "image/image.hpp"
#include "loader/dataset.hpp"
#include "metrics/lpips.hpp"
#include "metrics/metrics.hpp"
#include "models/models.hpp"
#include "nih/metadata.hpp"
#include "train/checkpoint.hpp"

namespace cxr::eval {
namespace {

using nlohmann::json;

// Baseline parameters, chosen per sigma on validation images by the lowest mean L1.
struct Tuned {
  double blur_sigma = 1.0;
  int median_kernel = 3;
};

Tuned tune_baselines(const loader::Dataset& val, double sigma, double mean, std::uint64_t seed) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < std::min<std::size_t>(16, val.size()); ++i) idx.push_back(i);
  const torch::Tensor clean = val.read_batch(idx);
  std::vector<std::uint64_t> ids;
  for (auto i : idx) ids.push_back(val.id(i));
  const torch::Tensor noisy = noise::obfuscate(clean, ids, 0, noise::NoiseOptions().mean(mean).sigma(sigma).seed(seed ^ 0x5A17));
  auto l1 = [&](const torch::Tensor& out) { return (out - clean).abs().mean().item<double>(); };
  Tuned t;
  double best = 1e9;
  for (double b : {0.5, 0.75, 1.0, 1.5, 2.0, 3.0})
    if (const double v = l1(metrics::gaussian_filter(noisy, b, mean)); v < best) best = v, t.blur_sigma = b;
  best = 1e9;
  for (int k : {3, 5, 7})
    if (const double v = l1(metrics::median_filter(noisy, k, mean)); v < best) best = v, t.median_kernel = k;
  return t;
}

image::Gray8 to_gray(const torch::Tensor& img) {  // [H, W] in [0, 1]
  const torch::Tensor u8 = img.clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
  image::Gray8 g;
  g.height = static_cast<int>(u8.size(0));
  g.width = static_cast<int>(u8.size(1));
  g.pixels.assign(u8.data_ptr<std::uint8_t>(), u8.data_ptr<std::uint8_t>() + u8.numel());
  return g;
}

// clean | noisy | denoised | |error| x 4, side by side with 2-pixel gaps.
void write_grid(const std::string& path, const torch::Tensor& clean, const torch::Tensor& noisy, const torch::Tensor& out) {
  const auto h = clean.size(0), w = clean.size(1);
  torch::Tensor grid = torch::ones({h, 4 * w + 6});
  const torch::Tensor panels[] = {clean, noisy, out.clamp(0, 1), ((out.clamp(0, 1) - clean).abs() * 4).clamp(0, 1)};
  for (int k = 0; k < 4; ++k) grid.slice(1, k * (w + 2), k * (w + 2) + w).copy_(panels[k]);
  image::write_png(path, to_gray(grid));
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

int run_evaluation(dist::World& world, const EvalOptions& o) {
  world.set_timeout(o.timeout_s);
  const bool root = world.is_root();
  // Every rank reads the run, the checkpoint and the data itself; the ranks agree on the outcome
  // (a node that cannot see a path says so, and every rank ends) before anyone waits for another.
  const fs::path run(o.run_dir);
  config::Config cfg(config::project_schema());
  std::string ckpt, data_dir;
  std::vector<double> sigmas;
  std::shared_ptr<models::DenoiserImpl> model;
  train::CheckpointContent content;
  dist::all_or_none(world, [&] {
    cfg = config::load_run_config(o.run_dir);  // the run's model, noise and data
    data_dir = o.data_dir.empty() ? cfg.get_string("data.dir") : o.data_dir;
    sigmas = o.sigmas.empty() ? std::vector<double>{cfg.get_float("noise.sigma")} : o.sigmas;
    for (const auto& m : o.methods)
      if (m != "model" && m != "noisy" && m != "gaussian" && m != "median")
        throw InputError("--methods: unknown method '" + m + "' (model, noisy, gaussian, median)");
    const bool named = o.checkpoint == "best" || o.checkpoint == "latest";
    ckpt = train::resolve_checkpoint(named ? o.run_dir : o.checkpoint, o.checkpoint == "best");
    model = models::make_model(models::options_from_config(cfg, /*for_inference=*/true));
    content = train::load_checkpoint(ckpt, *model, nullptr);
  });
  const double noise_mean = cfg.get_float("noise.mean");
  const torch::Device device = device::choose_device(o.device, world, /*one_rank_per_device=*/false);  // no NCCL: ranks may share a GPU
  if (device.is_cuda()) {  // full fp32 (no TF32): the same metrics whichever device computes them
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  model->to(device);
  model->eval();

  std::unique_ptr<loader::Dataset> data_ptr;
  std::vector<std::size_t> mine;
  const fs::path out_dir = o.out_dir.empty() ? run : fs::path(o.out_dir);
  std::optional<metrics::Lpips> lpips;
  std::string lpips_status = "unavailable: no AlexNet backbone weights given (--lpips-backbone; see docs/ARCHITECTURE.md)";
  std::vector<Tuned> tuned;
  dist::all_or_none(world, [&] {
    data_ptr = std::make_unique<loader::Dataset>(data_dir, o.split);
    const loader::Dataset val(data_dir, "val");
    mine = loader::evaluation_slice(data_ptr->size(), world.rank(), world.size());
    fs::create_directories(out_dir / "eval");
    if (!o.lpips_backbone.empty()) {
      if (o.lpips_lin.empty()) throw InputError("--lpips-backbone needs --lpips-lin (the LPIPS v0.1 alex lin weights, .json)");
      lpips.emplace(metrics::Lpips::from_files(o.lpips_backbone, o.lpips_lin));
      lpips_status = "LPIPS v0.1, AlexNet trunk (" + o.lpips_backbone + ", " + o.lpips_lin + ")";
    }
    for (double sigma : sigmas) tuned.push_back(tune_baselines(val, sigma, noise_mean, o.noise_seed));
  });
  const loader::Dataset& data = *data_ptr;

  std::ostringstream csv;
  csv << "image,patient,labels,view,sigma,method,psnr,ssim,ssim_3x3,lpips\n";
  torch::NoGradGuard no_grad;
  Progress progress("cxr-eval", static_cast<std::int64_t>(mine.size() * sigmas.size()), root);
  int samples_written = 0;
  for (std::size_t first = 0; first < mine.size(); first += static_cast<std::size_t>(o.batch_size)) {
    const std::vector<std::size_t> idx(mine.begin() + static_cast<std::ptrdiff_t>(first),
                                       mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), first + static_cast<std::size_t>(o.batch_size))));
    const torch::Tensor clean = data.read_batch(idx);
    std::vector<std::uint64_t> ids;
    for (auto i : idx) ids.push_back(data.id(i));
    for (std::size_t si = 0; si < sigmas.size(); ++si) {
      const torch::Tensor noisy = noise::obfuscate(clean, ids, 0, noise::NoiseOptions().mean(noise_mean).sigma(sigmas[si]).seed(o.noise_seed));
      torch::Tensor denoised;
      for (const auto& method : o.methods) {
        torch::Tensor out;
        if (method == "model") out = denoised = model->forward(noisy.to(device)).to(torch::kCPU).clamp(0, 1);
        if (method == "noisy") out = noisy;
        if (method == "gaussian") out = metrics::gaussian_filter(noisy, tuned[si].blur_sigma, noise_mean);
        if (method == "median") out = metrics::median_filter(noisy, tuned[si].median_kernel, noise_mean);
        const torch::Tensor p = metrics::psnr(out, clean), s = metrics::ssim(out, clean), s3 = metrics::ssim_3x3(out, clean);
        const torch::Tensor lp = lpips ? lpips->distance(out.clamp(0, 1), clean) : torch::Tensor();
        for (std::size_t k = 0; k < idx.size(); ++k) {
          const auto& smp = data.sample(idx[k]);
          // Without the AlexNet backbone LPIPS is an empty field, never a number.
          const auto kk = static_cast<std::int64_t>(k);
          csv << fmt::format("{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{}\n", smp.image, smp.patient_id,
                             csv_field(nih::format_labels(smp.labels)), smp.view, sigmas[si], method, p[kk].item<double>(),
                             s[kk].item<double>(), s3[kk].item<double>(),
                             lp.defined() ? fmt::format("{:.6f}", lp[kk].item<double>()) : std::string());
        }
      }
      if (root && denoised.defined()) {
        const fs::path dir = out_dir / "samples" / fmt::format("sigma-{}", sigmas[si]);
        fs::create_directories(dir);
        for (std::size_t k = 0; k < idx.size() && samples_written + static_cast<int>(k) < o.samples; ++k)
          write_grid((dir / data.sample(idx[k]).image).string(), clean[static_cast<std::int64_t>(k)][0],
                     noisy[static_cast<std::int64_t>(k)][0], denoised[static_cast<std::int64_t>(k)][0]);
      }
      progress.advance(static_cast<std::int64_t>(idx.size()));
    }
    samples_written += static_cast<int>(idx.size());
  }
  progress.finish();
  // Each rank writes its own results; rank 0 then the metadata. Agreed, so that a failed write
  // on any rank ends every rank with its message.
  world.watchdog().set_context("writing the evaluation results");
  dist::all_or_none(world, [&] { write_file_atomic(out_dir / "eval" / fmt::format("rank-{:05d}.csv", world.rank()), csv.str()); });
  dist::all_or_none(world, [&] {
    if (!root) return;
    // What a reducer needs to check completeness and comparability.
    std::string names;
    for (std::size_t i = 0; i < data.size(); ++i) names += data.sample(i).image + "\n";
    json tuned_json = json::array();
    for (std::size_t i = 0; i < sigmas.size(); ++i)
      tuned_json.push_back({{"sigma", sigmas[i]}, {"gaussian_blur_sigma", tuned[i].blur_sigma}, {"median_kernel", tuned[i].median_kernel}});
    const json meta = {{"ranks", world.size()}, {"checkpoint", ckpt}, {"global_step", content.state.global_step},
                       {"model", content.model_signature}, {"split", o.split}, {"images", data.size()},
                       {"test_set_sha256", sha256_hex(names)}, {"sigmas", sigmas}, {"methods", o.methods},
                       {"noise_mean", noise_mean}, {"noise_seed", o.noise_seed}, {"baselines", tuned_json},
                       {"lpips", lpips_status}, {"data_dir", data_dir}};
    write_file_atomic(out_dir / "eval" / "meta.json", meta.dump(2) + "\n");
    log::info(fmt::format("evaluated {} {} images x {} sigma(s) x {} methods over {} ranks -> {}", data.size(), o.split,
                          sigmas.size(), o.methods.size(), world.size(), (out_dir / "eval").string()));
  });
  return kExitOk;
}

}  // namespace cxr::eval
