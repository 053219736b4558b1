// cxr-denoise: what a clinic-side user runs. Applies a trained checkpoint to PNG files of any
// size and writes the denoised PNGs; with --sigma it first obfuscates each image as the
// training did, so the clean, the noisy and the denoised image can be compared.
//
//   cxr-denoise --checkpoint runs/a --input scans/ --output denoised/ [--sigma 0.1] [--mode resize|full]
//
// --mode resize (default): resize to the training resolution, denoise, resize back (the model
//   sees images at the scale it learned). --mode full: denoise at the file's own resolution
//   (sizes padded to a multiple of 2^depth), sharper but at another anatomical scale than training.
#include <fmt/format.h>

#include <iostream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/tool.hpp"
#include "config/run_config.hpp"
#include "device/device.hpp"
#include "image/image.hpp"
#include "metrics/metrics.hpp"
#include "models/models.hpp"
#include "image/tensor.hpp"
#include "noise/noise.hpp"
#include "train/checkpoint.hpp"

namespace {
using namespace cxr;

// A trained model as the checkpoint's own config describes it, on a device.
struct Denoiser {
  std::shared_ptr<models::DenoiserImpl> model;
  torch::Device device{torch::kCPU};
  int train_size = 0, multiple = 1;
  double noise_mean = 0;

  // One image [1, 1, H, W] through the model, as --mode says (see the top of this file).
  torch::Tensor apply(const torch::Tensor& in, const std::string& mode) const {
    auto run = [&](const torch::Tensor& x) { return model->forward(x.to(device)).to(torch::kCPU).clamp(0, 1); };
    const int height = static_cast<int>(in.size(2)), width = static_cast<int>(in.size(3));
    if (mode == "resize") {
      const torch::Tensor y = run(image::to_tensor(image::resize_bicubic(image::to_gray8(in), train_size, train_size)));
      return image::to_tensor(image::resize_bicubic(image::to_gray8(y), width, height));
    }
    const int ph = (multiple - height % multiple) % multiple, pw = (multiple - width % multiple) % multiple;
    return run(torch::reflection_pad2d(in, {0, pw, 0, ph})).slice(2, 0, height).slice(3, 0, width);
  }
};

Denoiser load_denoiser(const std::string& file, const std::string& device) {
  const auto summary = train::read_checkpoint(file);
  const config::Config cfg = config::saved_config(summary.content.config_yaml, file + " (its saved config)");
  Denoiser d;
  d.model = models::make_model(models::options_from_config(cfg, /*for_inference=*/true));
  train::load_checkpoint(file, *d.model, nullptr);
  d.device = device::choose_device(device);
  d.model->to(d.device);
  d.model->eval();
  d.train_size = static_cast<int>(cfg.get_int("preprocess.image_size"));
  d.multiple = 1 << cfg.get_int("model.depth");
  d.noise_mean = cfg.get_float("noise.mean");
  log::info(fmt::format("{} ({})", file, summary.content.model_signature));
  return d;
}

std::vector<fs::path> png_files(const std::string& input) {
  if (!fs::exists(input)) throw InputError("input " + input + " does not exist");
  if (!fs::is_directory(input)) return {input};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(input))
    if (e.path().extension() == ".png") files.push_back(e.path());
  if (files.empty()) throw InputError("no .png files in " + input);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  setup_logging("cxr-denoise");
  CLI::App app{"Denoise PNG radiographs with a trained cxr-train checkpoint.", "cxr-denoise"};
  add_version_flag(app);
  std::string checkpoint, input, output, mode = "resize", device = "auto";
  double sigma = -1;
  std::uint64_t seed = 0;
  app.add_option("--checkpoint", checkpoint, "checkpoint file, or a run directory (its best checkpoint)")->required();
  app.add_option("--input", input, "a PNG file or a directory of PNGs")->required();
  app.add_option("--output", output, "directory for the results")->required();
  app.add_option("--sigma", sigma, "first obfuscate each image with N(mean, sigma) noise (mean from the training config)");
  app.add_option("--mode", mode, "resize (to the training resolution and back) or full (native resolution)")
      ->check(CLI::IsMember({"resize", "full"}));
  app.add_option("--seed", seed, "seed of the --sigma noise");
  app.add_option("--device", device, "auto (a GPU when there is one), cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  if (auto code = parse_command_line(app, argc, argv)) return *code;
  return run_tool([&]() -> int {
    const Denoiser denoiser = load_denoiser(train::resolve_checkpoint(checkpoint, /*prefer_best=*/true), device);
    const auto files = png_files(input);
    ensure_writable_directory(output);
    log::info(fmt::format("{} file(s), mode {}{}", files.size(), mode,
                          sigma >= 0 ? fmt::format(", obfuscating with mean {} sigma {}", denoiser.noise_mean, sigma) : ""));
    torch::NoGradGuard no_grad;
    int failed = 0;
    for (const auto& f : files) {
      image::Gray8 original;
      try {
        original = image::read_png(f.string());
      } catch (const image::DecodeError& e) {
        log::error(fmt::format("{}: cannot decode: {}", f.string(), e.what()));
        ++failed;
        continue;
      }
      const std::string name = f.filename().string();
      const torch::Tensor clean = image::to_tensor(original);
      torch::Tensor in = clean;
      if (sigma >= 0) {
        in = noise::obfuscate(clean, {rng::image_id(name)}, 0, noise::NoiseOptions().mean(denoiser.noise_mean).sigma(sigma).seed(seed));
        image::write_png((fs::path(output) / (f.stem().string() + ".noisy.png")).string(), image::to_gray8(in));
      }
      const torch::Tensor out = denoiser.apply(in, mode);
      image::write_png((fs::path(output) / name).string(), image::to_gray8(out));
      if (sigma >= 0)
        std::cout << fmt::format("{}: PSNR noisy {:.2f} dB -> denoised {:.2f} dB\n", name, metrics::psnr(in, clean).item<double>(),
                                 metrics::psnr(out, clean).item<double>());
      else
        std::cout << fmt::format("{}: denoised -> {}\n", name, (fs::path(output) / name).string());
    }
    return failed ? kExitUsage : kExitOk;
  });
}
