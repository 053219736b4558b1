// cxr-inspect: what a checkpoint holds, and how far two checkpoints are apart.
//
//   cxr-inspect CKPT               model, config summary, epoch, step, parameter count, digest
//   cxr-inspect --diff A B [--tolerance 0]   max |a - b| over all parameters and buffers;
//                                            exit 1 above the tolerance
//   cxr-inspect --devices          the GPUs this build can use (exit 3 when it sees none)
// CKPT, A, B: a checkpoint file, or a run directory (its latest checkpoint).

#include <fmt/format.h>
#include <iostream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/tool.hpp"
#include "config/run_config.hpp"
#include "device/device.hpp"
#include "train/checkpoint.hpp"

namespace {

std::string digest(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::string bytes;
  for (const auto& [name, t] : tensors) {
    const torch::Tensor c = t.contiguous().cpu();
    bytes += name;
    bytes.append(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel() * c.element_size()));
  }
  return cxr::sha256_hex(bytes).substr(0, 16);
}

}  // namespace

int main(int argc, char** argv) {
  cxr::setup_logging("cxr-inspect");
  CLI::App app{"Show a cxr-train checkpoint, or compare two.", "cxr-inspect"};
  cxr::add_version_flag(app);
  std::vector<std::string> diff;
  std::string path;
  double tolerance = 0.0;
  bool devices = false;
  app.add_flag("--devices", devices, "list the CUDA devices this build can train on; exit 3 when there is none");
  app.add_option("checkpoint", path, "checkpoint file or run directory");
  app.add_option("--diff", diff, "compare two checkpoints (files or run directories)")->expected(2);
  app.add_option("--tolerance", tolerance, "--diff: largest allowed max |a - b| (default 0: bit-identical)");
  if (auto code = cxr::parse_command_line(app, argc, argv)) return *code;
  return cxr::run_tool([&]() -> int {
    if (devices) {
      const bool usable = cxr::device::cuda_build() && torch::cuda::is_available();
      std::cout << fmt::format("{}\nCUDA support: {}\nCUDA devices: {}\n", cxr::version_string(),
                               cxr::device::cuda_build() ? "yes (NCCL backend)" : "no (a CPU LibTorch)",
                               usable ? torch::cuda::device_count() : 0);
      if (usable) std::cout << cxr::device::cuda_device_names();
      return usable ? 0 : 3;
    }
    if (diff.empty()) {
      if (path.empty()) throw cxr::InputError("give a checkpoint (or a run directory), or --diff A B");
      const std::string file = cxr::train::resolve_checkpoint(path, false);
      const auto s = cxr::train::read_checkpoint(file);
      std::int64_t params = 0;
      for (const auto& [name, t] : s.tensors) params += t.is_floating_point() ? t.numel() : 0;
      const auto& st = s.content.state;
      const auto loss = [](const std::optional<double>& v) { return v ? fmt::format("{:.6f}", *v) : std::string("n/a"); };
      std::cout << fmt::format("checkpoint   {}\nmodel        {}\nepochs done  {} (+{} steps of the next)\nglobal step  {}\n"
                               "val L1       last {}, best {}\nloss scale   {}\ntensors      {} ({} values)\ndigest       {}\n",
                               file, s.content.model_signature, st.epoch, st.step_in_epoch, st.global_step, loss(st.last_val_loss),
                               loss(st.best_val_loss), st.loss_scale, s.tensors.size(), params, digest(s.tensors));
      const cxr::config::Config config = cxr::config::saved_config(s.content.config_yaml, file + " (its saved config)");
      std::cout << "config (summary):\n";
      for (const char* key : {"model.name", "model.base_width", "model.depth", "model.norm", "noise.sigma", "train.batch_size",
                              "train.epochs", "train.optimizer", "train.lr", "train.amp", "train.loss"})
        std::cout << fmt::format("  {} = {}\n", key, config.text(key));
      return 0;
    }
    const auto a = cxr::train::read_checkpoint(cxr::train::resolve_checkpoint(diff[0], false));
    const auto b = cxr::train::read_checkpoint(cxr::train::resolve_checkpoint(diff[1], false));
    if (a.content.model_signature != b.content.model_signature || a.tensors.size() != b.tensors.size())
      throw cxr::InputError("different models: '" + a.content.model_signature + "' and '" + b.content.model_signature + "'");
    double worst = 0;
    std::string worst_name;
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
      if (a.tensors[i].first != b.tensors[i].first || !a.tensors[i].second.sizes().equals(b.tensors[i].second.sizes()))
        throw cxr::InputError("different tensors: " + a.tensors[i].first + " vs " + b.tensors[i].first);
      const double d = (a.tensors[i].second.to(torch::kFloat64) - b.tensors[i].second.to(torch::kFloat64)).abs().max().item<double>();
      if (d > worst || worst_name.empty()) {
        worst = d;
        worst_name = a.tensors[i].first;
      }
    }
    std::cout << fmt::format("max |a - b| = {:.3e} (at {}), tolerance {:.3e}: {}\n", worst, worst_name, tolerance,
                             worst <= tolerance ? "same" : "DIFFERENT");
    return worst <= tolerance ? 0 : 1;
  });
}
