#include "eval/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/progress.hpp"
#include "config/run_config.hpp"
#include "config/schema.hpp"
#include "device/device.hpp"
#include "image/image.hpp"
#include "image/tensor.hpp"
#include "loader/dataset.hpp"
#include "metrics/lpips.hpp"
#include "metrics/metrics.hpp"
#include "models/models.hpp"
#include "nih/metadata.hpp"
#include "privacy/matching.hpp"
#include "random/keyed.hpp"
#include "rundir/eval_results.hpp"
#include "shards/manifest.hpp"
#include "train/checkpoint.hpp"

namespace cxr::eval {
namespace {

// What every rank needs before it scores an image: read, checked and agreed on by all ranks.
struct Evaluation {
  fs::path out_dir;
  bool separate_out = false;  // --out is not the run directory: it gets a copy of config.yaml
  config::Config cfg{config::project_schema()};  // the run's
  std::string checkpoint, data_dir;
  std::vector<double> sigmas;
  std::vector<std::string> methods;  // --methods, plus model_uncorrected for a Noise2Noise run
  double noise_mean = 0;
  std::optional<std::pair<double, double>> unbias;  // Noise2Noise: the training noise (mean, sigma) to invert
  std::shared_ptr<models::DenoiserImpl> model;
  train::CheckpointContent content;
  torch::Device device = torch::kCPU;
  std::unique_ptr<loader::Dataset> data;
  std::vector<std::size_t> mine;  // this rank's slice of the split
  std::optional<metrics::Lpips> lpips;
  std::string lpips_status = "unavailable: no AlexNet backbone weights given (--lpips-backbone; see docs/ARCHITECTURE.md)";
  std::vector<rundir::TunedBaseline> tuned;  // per sigma, when a filter is evaluated
  privacy::Gallery gallery;                  // every clean image of the split, in the split's order
};

rundir::TunedBaseline tune_baselines(const loader::Dataset& val, double sigma, double mean, std::uint64_t seed) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < std::min<std::size_t>(16, val.size()); ++i) idx.push_back(i);
  // Noise of its own purpose: tuning never sees the noise the methods are then scored on.
  const auto tuning = noise::NoiseOptions().mean(mean).sigma(sigma).seed(seed).purpose(rng::Purpose::BaselineTuning);
  const auto batch = loader::read_noisy_batch(val, idx, tuning, 0);
  const torch::Tensor &clean = batch.clean, &noisy = batch.noisy;
  // The candidate whose filtered images are closest to the clean ones (mean L1); the first on a tie.
  auto best = [&](const auto& candidates, const auto& filter) {
    auto chosen = candidates.front();
    double lowest = INFINITY;
    for (auto c : candidates)
      if (const double l1 = torch::Tensor(filter(c) - clean).abs().mean().item<double>(); l1 < lowest) lowest = l1, chosen = c;
    return chosen;
  };
  rundir::TunedBaseline t{sigma};
  t.gaussian_blur_sigma = best(std::vector<double>{0.5, 0.75, 1.0, 1.5, 2.0, 3.0}, [&](double b) { return metrics::gaussian_filter(noisy, b, mean); });
  t.median_kernel = best(std::vector<int>{3, 5, 7}, [&](int k) { return metrics::median_filter(noisy, k, mean); });
  return t;
}

// Where the baselines tune: the evaluated dataset's validation split, or, for a test-only dataset
// (another hospital's), the run's own.
std::string tuning_data(const dist::World& world, const std::string& data_dir, const config::Config& cfg) {
  auto has_val = [](const std::string& dir) { return shards::read_manifest(dir).splits.count("val") > 0; };
  if (has_val(data_dir)) return data_dir;
  const std::string own = cfg.get_string("data.dir");
  if (!has_val(own))
    throw InputError("neither " + data_dir + " nor the run's own dataset " + own + " has a 'val' split to tune the Gaussian and "
                     "median baselines on; leave them out with --methods model,noisy");
  if (world.is_root())
    log::warn(fmt::format("{} has no 'val' split: the Gaussian and median baselines tune on the run's own validation images ({})",
                          data_dir, own));
  return own;
}

// clean | noisy | denoised | |error| x 4, side by side with 2-pixel gaps.
void write_grid(const std::string& path, const torch::Tensor& clean, const torch::Tensor& noisy, const torch::Tensor& out) {
  const auto h = clean.size(0), w = clean.size(1);
  torch::Tensor grid = torch::ones({h, 4 * w + 6});
  const torch::Tensor panels[] = {clean, noisy, out.clamp(0, 1), ((out.clamp(0, 1) - clean).abs() * 4).clamp(0, 1)};
  for (int k = 0; k < 4; ++k) grid.slice(1, k * (w + 2), k * (w + 2) + w).copy_(panels[k]);
  image::write_png(path, image::to_gray8(grid));
}

// The run's config and checkpoint, the model on this rank's device.
void load_model(const dist::World& world, const EvalOptions& o, Evaluation& e) {
  dist::all_or_none(world, [&] {
    e.cfg = config::load_run_config(o.run_dir);  // the run's model, noise and data
    e.data_dir = o.data_dir.empty() ? e.cfg.get_string("data.dir") : o.data_dir;
    e.sigmas = o.sigmas.empty() ? std::vector<double>{e.cfg.get_float("noise.sigma")} : o.sigmas;
    for (const auto& m : o.methods)
      if (m != "model" && m != "noisy" && m != "gaussian" && m != "median")
        throw InputError("--methods: unknown method '" + m + "' (model, noisy, gaussian, median)");
    const bool named = o.checkpoint == "best" || o.checkpoint == "latest";
    e.checkpoint = train::resolve_checkpoint(named ? o.run_dir : o.checkpoint, o.checkpoint == "best");
    e.model = models::make_model(models::options_from_config(e.cfg, /*for_inference=*/true));
    e.content = train::load_checkpoint(e.checkpoint, *e.model, nullptr);
  });
  e.noise_mean = e.cfg.get_float("noise.mean");
  e.methods = o.methods;
  // A Noise2Noise model predicts E[clamp(x + n)] of its training noise: "model" is that output
  // mapped back through the noise model; "model_uncorrected" shows the bias it removes.
  const bool has_model = std::find(o.methods.begin(), o.methods.end(), "model") != o.methods.end();
  if (e.cfg.get_string("train.target") == "noisy" && has_model) {
    e.unbias = std::make_pair(e.noise_mean, e.cfg.get_float("noise.sigma"));
    e.methods.push_back("model_uncorrected");
  }
  e.device = device::choose_device(o.device, world, /*one_rank_per_device=*/false);  // no NCCL: ranks may share a GPU
  if (e.device.is_cuda()) {  // full fp32 (no TF32): the same metrics whichever device computes them
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  e.model->to(e.device);
  e.model->eval();
}

// The split and this rank's slice of it, the output folder, LPIPS, and the tuned baselines.
void open_data(const dist::World& world, const EvalOptions& o, Evaluation& e) {
  const bool filters = std::any_of(o.methods.begin(), o.methods.end(), [](const std::string& m) { return m == "gaussian" || m == "median"; });
  dist::all_or_none(world, [&] {
    e.data = std::make_unique<loader::Dataset>(e.data_dir, o.split);
    e.mine = loader::evaluation_slice(e.data->size(), world.rank(), world.size());
    e.separate_out = !fs::exists(e.out_dir) || !fs::equivalent(e.out_dir, o.run_dir);
    if (e.separate_out && fs::exists(e.out_dir / "checkpoints"))
      throw InputError("--out " + e.out_dir.string() + " is another run's directory; give a folder of its own to the evaluation");
    fs::create_directories(e.out_dir / "eval");
    if (!o.lpips_backbone.empty()) {
      if (o.lpips_lin.empty()) throw InputError("--lpips-backbone needs --lpips-lin (the LPIPS v0.1 alex lin weights, .json)");
      e.lpips.emplace(metrics::read_weight_file(o.lpips_backbone), metrics::read_weight_file(o.lpips_lin));
      e.lpips_status = "LPIPS v0.1, AlexNet trunk (" + o.lpips_backbone + ", " + o.lpips_lin + ")";
    }
    if (!filters) return;
    const loader::Dataset val(tuning_data(world, e.data_dir, e.cfg), "val");
    for (double sigma : e.sigmas) e.tuned.push_back(tune_baselines(val, sigma, e.noise_mean, o.noise_seed));
  });
}

// The re-identification gallery: each rank describes its own slice's clean images; rank 0
// gathers them and every rank gets all of them. The slices are contiguous and in rank order, so
// an image's place in the gallery is its index in the split. (A pass of its own, before scoring:
// a query can be ranked only against the whole gallery.)
void build_gallery(const dist::World& world, const EvalOptions& o, Evaluation& e) {
  const std::string mine = dist::all_or_none(world, [&] {
    std::vector<torch::Tensor> parts{torch::empty({0, privacy::kMatchSide * privacy::kMatchSide})};
    for (std::size_t first = 0; first < e.mine.size(); first += static_cast<std::size_t>(o.batch_size)) {
      const auto last = std::min(e.mine.size(), first + static_cast<std::size_t>(o.batch_size));
      parts.push_back(privacy::descriptors(e.data->read_batch({e.mine.begin() + static_cast<std::ptrdiff_t>(first),
                                                               e.mine.begin() + static_cast<std::ptrdiff_t>(last)})));
    }
    const torch::Tensor d = torch::cat(parts).contiguous();
    return std::string(reinterpret_cast<const char*>(d.data_ptr<float>()), static_cast<std::size_t>(d.numel()) * sizeof(float));
  });
  std::string all;
  for (const auto& part : world.gather(mine)) all += part;
  all = world.broadcast(all);
  const auto g = static_cast<std::int64_t>(e.data->size());
  if (all.size() != static_cast<std::size_t>(g) * privacy::kMatchSide * privacy::kMatchSide * sizeof(float))  // the same on every rank
    throw std::runtime_error(fmt::format("the gathered re-identification gallery has {} bytes, not the {} images' descriptors", all.size(), g));
  e.gallery.descriptors = torch::from_blob(all.data(), {g, privacy::kMatchSide * privacy::kMatchSide}, torch::kFloat).clone();
  for (std::size_t i = 0; i < e.data->size(); ++i) e.gallery.patients.push_back(e.data->sample(i).patient_id);
}

// One match row per image of the batch: `descriptors` of the images as the attacker holds them,
// against the gallery.
void add_matches(std::vector<rundir::MatchRow>& rows, const Evaluation& e, const std::vector<std::size_t>& idx, double sigma,
                 const std::string& query, const torch::Tensor& descriptors) {
  const std::vector<std::int64_t> own(idx.begin(), idx.end());
  const auto found = privacy::match(e.gallery, descriptors, own);
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const auto& smp = e.data->sample(idx[k]);
    rows.push_back({smp.image, smp.patient_id, sigma, query, found[k].own_rank, e.gallery.descriptors.size(0), found[k].followup_rank,
                    found[k].followup_same});
  }
}

// One row per image of the batch for `out`, the batch after one method.
void add_rows(std::vector<rundir::EvalRow>& rows, const Evaluation& e, const std::vector<std::size_t>& idx, double sigma,
              const std::string& method, const torch::Tensor& out, const torch::Tensor& clean) {
  const torch::Tensor p = metrics::psnr(out, clean), s = metrics::ssim(out, clean), s3 = metrics::ssim_3x3(out, clean);
  const torch::Tensor lp = e.lpips ? e.lpips->distance(out.clamp(0, 1), clean) : torch::Tensor();
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const auto& smp = e.data->sample(idx[k]);
    const auto kk = static_cast<std::int64_t>(k);
    rows.push_back({smp.image, smp.patient_id, nih::format_labels(smp.labels), smp.view, sigma, method, p[kk].item<double>(),
                    s[kk].item<double>(), s3[kk].item<double>(), lp.defined() ? std::optional<double>(lp[kk].item<double>()) : std::nullopt});
  }
}

// This rank's slice, batch by batch: every method at every sigma, and the re-identification
// queries (clean once, obfuscated and denoised per sigma); then this rank's two result files.
// Rank 0 also draws the image grids of its first `samples` images.
void score(const dist::World& world, const EvalOptions& o, const Evaluation& e) {
  std::vector<rundir::EvalRow> rows;
  std::vector<rundir::MatchRow> matches;
  torch::NoGradGuard no_grad;
  Progress progress("cxr-eval", static_cast<std::int64_t>(e.mine.size() * e.sigmas.size()), world.is_root());
  const auto batch = static_cast<std::size_t>(o.batch_size);
  for (std::size_t first = 0; first < e.mine.size(); first += batch) {
    const std::vector<std::size_t> idx(e.mine.begin() + static_cast<std::ptrdiff_t>(first),
                                       e.mine.begin() + static_cast<std::ptrdiff_t>(std::min(e.mine.size(), first + batch)));
    for (std::size_t si = 0; si < e.sigmas.size(); ++si) {
      const auto b = loader::read_noisy_batch(*e.data, idx, noise::NoiseOptions().mean(e.noise_mean).sigma(e.sigmas[si]).seed(o.noise_seed), 0);
      const torch::Tensor &clean = b.clean, &noisy = b.noisy;
      torch::Tensor denoised, raw;  // the model's output, as scored and as it came
      for (const auto& method : e.methods) {
        torch::Tensor out = noisy;
        if (method == "model" || method == "model_uncorrected")
          if (!raw.defined()) raw = e.model->forward(noisy.to(e.device)).to(torch::kCPU);
        if (method == "model") out = denoised = e.unbias ? noise::unbias(raw, e.unbias->first, e.unbias->second) : raw.clamp(0, 1);
        if (method == "model_uncorrected") out = raw.clamp(0, 1);
        if (method == "gaussian") out = metrics::gaussian_filter(noisy, e.tuned[si].gaussian_blur_sigma, e.noise_mean);
        if (method == "median") out = metrics::median_filter(noisy, e.tuned[si].median_kernel, e.noise_mean);
        add_rows(rows, e, idx, e.sigmas[si], method, out, clean);
      }
      if (si == 0)  // the clean images are in the gallery already
        add_matches(matches, e, idx, 0.0, "clean", e.gallery.descriptors.index_select(0, torch::tensor(std::vector<std::int64_t>(idx.begin(), idx.end()))));
      add_matches(matches, e, idx, e.sigmas[si], "obfuscated", privacy::descriptors(noisy));
      if (denoised.defined()) add_matches(matches, e, idx, e.sigmas[si], "denoised", privacy::descriptors(denoised));
      const fs::path dir = e.out_dir / "samples" / fmt::format("sigma-{}", e.sigmas[si]);
      for (std::size_t k = 0; world.is_root() && denoised.defined() && k < idx.size() && first + k < static_cast<std::size_t>(o.samples); ++k) {
        fs::create_directories(dir);
        const auto kk = static_cast<std::int64_t>(k);
        write_grid((dir / e.data->sample(idx[k]).image).string(), clean[kk][0], noisy[kk][0], denoised[kk][0]);
      }
      progress.advance(static_cast<std::int64_t>(idx.size()));
    }
  }
  progress.finish();
  write_file_atomic(rundir::eval_results_path(e.out_dir.string(), world.rank()), rundir::to_csv(rows));
  write_file_atomic(rundir::match_results_path(e.out_dir.string(), world.rank()), rundir::to_csv(matches));
}

// Rank 0's part, once every rank has written its rows: the metadata and, in an --out folder, the
// run's config.yaml, which is what cxr-reduce reads besides the rows.
void write_meta(const dist::World& world, const EvalOptions& o, const Evaluation& e) {
  world.watchdog().set_context("rank 0 writing eval/meta.json");
  const std::string out = e.out_dir.string();
  dist::all_or_none(world, [&] {
    if (!world.is_root()) return;
    std::string names;
    for (std::size_t i = 0; i < e.data->size(); ++i) names += e.data->sample(i).image + "\n";
    const rundir::EvalMeta meta{world.size(), e.checkpoint, e.content.state.global_step, e.content.model_signature, o.split,
                                e.data->size(), sha256_hex(names), e.sigmas, e.methods, e.noise_mean, o.noise_seed, e.tuned,
                                e.lpips_status, e.data_dir, e.gallery.descriptors.size(0)};
    write_file_atomic(rundir::eval_meta_path(out), rundir::to_json_text(meta));
    if (e.separate_out) config::save_run_config(out, e.cfg);
    log::info(fmt::format("evaluated {} {} images x {} sigma(s) x {} methods over {} ranks -> {}", e.data->size(), o.split,
                          e.sigmas.size(), e.methods.size(), world.size(), (e.out_dir / "eval").string()));
  });
}

}  // namespace

int run_evaluation(dist::World& world, const EvalOptions& o) {
  world.set_timeout(o.timeout_s);
  // Every rank reads the run, the checkpoint and the data itself; the ranks agree on the outcome
  // (a node that cannot see a path says so, and every rank ends) before anyone waits for another.
  Evaluation e;
  e.out_dir = o.out_dir.empty() ? fs::path(o.run_dir) : fs::path(o.out_dir);
  load_model(world, o, e);
  open_data(world, o, e);
  world.watchdog().set_context("gathering the re-identification gallery");
  build_gallery(world, o, e);
  // Scoring its slice and writing its rows is each rank's own work: agreed too, so that a failure
  // on one rank (an unreadable shard, a full disk) ends every rank with its message.
  world.watchdog().set_context("scoring and writing each rank's results");
  dist::all_or_none(world, [&] { score(world, o, e); });
  write_meta(world, o, e);
  return kExitOk;
}

}  // namespace cxr::eval
