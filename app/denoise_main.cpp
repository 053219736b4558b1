// cxr-denoise: what a clinic-side user runs. Applies a trained checkpoint to PNG files of any
// size and writes the denoised PNGs; with --sigma it first obfuscates each image as the
// training did, so the clean, the noisy and the denoised image can be compared.
//
//   cxr-denoise --checkpoint runs/a --input scans/ --output denoised/ [--sigma 0.1] [--mode resize|full]
//
// --mode resize (default): resize to the training resolution, denoise, resize back (the model
//   sees images at the scale it learned). --mode full: denoise at the file's own resolution
//   (sizes padded to a multiple of 2^depth), sharper but at another anatomical scale than training.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/tool.hpp"
#include "config/schema.hpp"
#include "device/device.hpp"
#include "image/image.hpp"
#include "metrics/metrics.hpp"
#include "models/models.hpp"
#include "noise/noise.hpp"
#include "train/checkpoint.hpp"

namespace {

torch::Tensor to_tensor(const cxr::image::Gray8& g) {
  return torch::from_blob(const_cast<std::uint8_t*>(g.pixels.data()), {1, 1, g.height, g.width}, torch::kUInt8)
      .to(torch::kFloat32)
      .div(255.0);
}

cxr::image::Gray8 to_gray(const torch::Tensor& t) {  // [1, 1, H, W] in [0, 1]
  const torch::Tensor u8 = t.clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
  cxr::image::Gray8 g;
  g.height = static_cast<int>(u8.size(2));
  g.width = static_cast<int>(u8.size(3));
  g.pixels.assign(u8.data_ptr<std::uint8_t>(), u8.data_ptr<std::uint8_t>() + u8.numel());
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  cxr::setup_logging("cxr-denoise");
  CLI::App app{"Denoise PNG radiographs with a trained cxr-train checkpoint.", "cxr-denoise"};
  cxr::add_version_flag(app);
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
  if (auto code = cxr::parse_command_line(app, argc, argv)) return *code;
  return cxr::run_tool([&]() -> int {
    const std::string file = cxr::train::resolve_checkpoint(checkpoint, /*prefer_best=*/true);
    const auto summary = cxr::train::read_checkpoint(file);
    // The checkpoint carries the configuration it was trained with.
    cxr::config::Config cfg(cxr::config::project_schema());
    cfg.load_text(summary.content.config_yaml, file + " (its saved config)");
    auto model = cxr::models::make_model(cxr::models::options_from_config(cfg, /*for_inference=*/true));
    cxr::train::load_checkpoint(file, *model, nullptr);
    const torch::Device dev = cxr::device::choose_device(device);
    model->to(dev);
    model->eval();
    auto denoise = [&](const torch::Tensor& x) { return model->forward(x.to(dev)).to(torch::kCPU); };
    const int train_size = static_cast<int>(cfg.get_int("preprocess.image_size"));
    const int multiple = 1 << cfg.get_int("model.depth");
    const double noise_mean = cfg.get_float("noise.mean");

    std::vector<cxr::fs::path> files;
    if (cxr::fs::is_directory(input)) {
      for (const auto& e : cxr::fs::directory_iterator(input))
        if (e.path().extension() == ".png") files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else if (cxr::fs::exists(input)) {
      files.push_back(input);
    } else {
      throw cxr::InputError("input " + input + " does not exist");
    }
    if (files.empty()) throw cxr::InputError("no .png files in " + input);
    cxr::ensure_writable_directory(output);
    cxr::log::info(fmt::format("{} ({}), {} file(s), mode {}{}", file, summary.content.model_signature, files.size(), mode,
                               sigma >= 0 ? fmt::format(", obfuscating with mean {} sigma {}", noise_mean, sigma) : ""));
    torch::NoGradGuard no_grad;
    int failed = 0;
    for (const auto& f : files) {
      cxr::image::Gray8 original;
      try {
        original = cxr::image::read_png(f.string());
      } catch (const cxr::image::DecodeError& e) {
        cxr::log::error(fmt::format("{}: cannot decode: {}", f.string(), e.what()));
        ++failed;
        continue;
      }
      const std::string name = f.filename().string();
      torch::Tensor clean = to_tensor(original), in = clean;
      if (sigma >= 0) {
        in = cxr::noise::obfuscate(clean, {cxr::noise::image_id(name)}, 0,
                                   cxr::noise::NoiseOptions().mean(noise_mean).sigma(sigma).seed(seed));
        cxr::image::write_png((cxr::fs::path(output) / (f.stem().string() + ".noisy.png")).string(), to_gray(in));
      }
      torch::Tensor out;
      if (mode == "resize") {
        const auto small = cxr::image::resize_bicubic(to_gray(in), train_size, train_size);
        const torch::Tensor y = denoise(to_tensor(small)).clamp(0, 1);
        out = to_tensor(cxr::image::resize_bicubic(to_gray(y), original.width, original.height));
      } else {
        const int ph = (multiple - original.height % multiple) % multiple, pw = (multiple - original.width % multiple) % multiple;
        const torch::Tensor padded = torch::reflection_pad2d(in, {0, pw, 0, ph});
        out = denoise(padded).slice(2, 0, original.height).slice(3, 0, original.width).clamp(0, 1);
      }
      cxr::image::write_png((cxr::fs::path(output) / name).string(), to_gray(out));
      if (sigma >= 0)
        std::cout << fmt::format("{}: PSNR noisy {:.2f} dB -> denoised {:.2f} dB\n", name,
                                 cxr::metrics::psnr(in, clean).item<double>(), cxr::metrics::psnr(out, clean).item<double>());
      else
        std::cout << fmt::format("{}: denoised -> {}\n", name, (cxr::fs::path(output) / name).string());
    }
    return failed ? cxr::kExitUsage : cxr::kExitOk;
  });
}
