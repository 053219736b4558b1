#include "train/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/test_hooks.hpp"
#include "config/run_config.hpp"
#include "config/schema.hpp"

namespace cxr::train {
namespace {

torch::Tensor scalar(double v) { return torch::full({1}, v, torch::kFloat64); }
torch::Tensor scalar(std::int64_t v) { return torch::full({1}, v, torch::kInt64); }

std::string read_string(torch::serialize::InputArchive& a, const std::string& key) {
  c10::IValue v;
  a.read(key, v);
  return v.toStringRef();
}

// A fresh tensor per read: InputArchive::read into a defined tensor reuses its storage.
torch::Tensor read_tensor(torch::serialize::InputArchive& a, const std::string& key, bool is_buffer = false) {
  torch::Tensor t;
  a.read(key, t, is_buffer);
  return t;
}

void read_content(torch::serialize::InputArchive& a, CheckpointContent& c) {
  auto i64 = [&](const char* key) { return read_tensor(a, key).item<std::int64_t>(); };
  auto f64 = [&](const char* key) { return read_tensor(a, key).item<double>(); };
  c.state.epoch = i64("state/epoch");
  c.state.step_in_epoch = i64("state/step_in_epoch");
  c.state.global_step = i64("state/global_step");
  c.state.loss_scale = f64("state/loss_scale");
  c.state.scale_growth_tracker = i64("state/scale_growth_tracker");
  // "No validation yet" is NaN in the file (1e30 and -1 in checkpoints of earlier versions).
  const auto loss = [&](const char* key) -> std::optional<double> {
    const double v = f64(key);
    return std::isnan(v) || v < 0 || v > 1e29 ? std::nullopt : std::optional<double>(v);
  };
  c.state.best_val_loss = loss("state/best_val_loss");
  c.state.last_val_loss = loss("state/last_val_loss");
  c.state.ranks = i64("state/ranks");
  c.model_name = read_string(a, "meta/model_name");
  c.model_signature = read_string(a, "meta/model_signature");
  c.config_yaml = read_string(a, "meta/config_yaml");
}

// The optimizer state (Adam's moments, SGD's momentum), read on the CPU, goes to the parameters'
// device (one model, one device). The state map's key type differs between LibTorch versions, so
// only its values are touched.
void move_optimizer_state_to_parameters(torch::optim::Optimizer& optimizer) {
  const auto& groups = optimizer.param_groups();
  if (groups.empty() || groups.front().params().empty()) return;
  const auto dev = groups.front().params().front().device();
  for (auto& entry : optimizer.state()) {
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(entry.second.get())) {
      if (sgd->momentum_buffer().defined()) sgd->momentum_buffer(sgd->momentum_buffer().to(dev));
      continue;
    }
    auto* adam = dynamic_cast<torch::optim::AdamParamState*>(entry.second.get());
    if (!adam) throw RuntimeError("checkpoint: only Adam's and SGD's optimizer state can be moved between devices");
    adam->exp_avg(adam->exp_avg().to(dev));
    adam->exp_avg_sq(adam->exp_avg_sq().to(dev));
    if (adam->max_exp_avg_sq().defined()) adam->max_exp_avg_sq(adam->max_exp_avg_sq().to(dev));
  }
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  if (!fs::exists(path)) throw InputError("checkpoint " + path + " does not exist");
  torch::serialize::InputArchive a;
  try {
    // Always onto the CPU: a checkpoint written on a GPU must load on a machine without one
    // (cxr-eval on a laptop); load_checkpoint moves what it reads to the model's device.
    a.load_from(path, torch::Device(torch::kCPU));
    const std::string format = read_string(a, "meta/format");
    if (format != "cxr-denoise-checkpoint-1") throw std::runtime_error("unknown format " + format);
  } catch (const std::exception& e) {
    throw InputError("checkpoint " + path + " is not a cxr-denoise checkpoint: " + std::string(e.what()).substr(0, 200));
  }
  return a;
}

bool same_value(const config::Config& a, const config::Config& b, const config::Key& k) {
  switch (k.type) {
    case config::Type::Int: return a.get_int(k.path) == b.get_int(k.path);
    case config::Type::Float: return a.get_float(k.path) == b.get_float(k.path);
    case config::Type::Bool: return a.get_bool(k.path) == b.get_bool(k.path);
    case config::Type::String: return a.get_string(k.path) == b.get_string(k.path);
  }
  return false;
}

bool defines_run(const std::string& key) {
  return key.rfind("noise.", 0) == 0 || key == "seed" || key == "train.batch_size" || key == "train.optimizer";
}

}  // namespace

std::string model_signature(const models::ModelOptions& o) {
  return fmt::format("{} base={} depth={} norm={} residual={} ds={} in={} out={}", o.name(), o.base_width(), o.depth(),
                     o.norm() == "syncbatch" ? "batch" : o.norm(), o.residual() ? 1 : 0, o.deep_supervision() ? 1 : 0,
                     o.in_channels(), o.out_channels());
}

CheckpointStore::CheckpointStore(std::string run_dir, int keep_last)
    : dir_((fs::path(run_dir) / "checkpoints").string()), keep_last_(std::max(1, keep_last)) {}

std::optional<std::string> CheckpointStore::latest() const {
  const fs::path pointer = fs::path(dir_) / "latest";
  if (!fs::exists(pointer)) return std::nullopt;
  std::string name = read_text_file(pointer);
  name.erase(name.find_last_not_of(" \n\r\t") + 1);
  const fs::path file = fs::path(dir_) / name;
  if (!fs::exists(file)) throw InputError(pointer.string() + " names " + name + ", which does not exist");
  return file.string();
}

std::string CheckpointStore::save(const models::DenoiserImpl& model, torch::optim::Optimizer& optimizer,
                                  const CheckpointContent& c, bool best) {
  fs::create_directories(dir_);
  torch::serialize::OutputArchive a;
  a.write("meta/format", c10::IValue(std::string("cxr-denoise-checkpoint-1")));
  a.write("meta/model_name", c10::IValue(c.model_name));
  a.write("meta/model_signature", c10::IValue(c.model_signature));
  a.write("meta/config_yaml", c10::IValue(c.config_yaml));
  a.write("state/epoch", scalar(c.state.epoch));
  a.write("state/step_in_epoch", scalar(c.state.step_in_epoch));
  a.write("state/global_step", scalar(c.state.global_step));
  a.write("state/loss_scale", scalar(c.state.loss_scale));
  a.write("state/scale_growth_tracker", scalar(c.state.scale_growth_tracker));
  a.write("state/best_val_loss", scalar(c.state.best_val_loss.value_or(std::nan(""))));
  a.write("state/last_val_loss", scalar(c.state.last_val_loss.value_or(std::nan(""))));
  a.write("state/ranks", scalar(c.state.ranks));
  for (const auto& p : model.named_parameters(true)) a.write("model/" + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers(true)) a.write("model/" + b.key(), b.value().detach().cpu(), /*is_buffer=*/true);
  torch::serialize::OutputArchive opt;
  optimizer.save(opt);
  a.write("optimizer", opt);

  const std::string name = fmt::format("step-{:08d}.pt", c.state.global_step);
  const fs::path final_path = fs::path(dir_) / name;
  const fs::path tmp = temporary_path_for(final_path);
  a.save_to(tmp.string());
  // Test hook: die between writing the temporary file and publishing it, the worst moment.
  if (test_hooks().kill_in_save == c.state.global_step) ::raise(SIGKILL);
  if (best) {
    const fs::path best_tmp = temporary_path_for(fs::path(dir_) / "best.pt");
    fs::copy_file(tmp, best_tmp, fs::copy_options::overwrite_existing);
    commit_file(best_tmp, fs::path(dir_) / "best.pt");
  }
  commit_file(tmp, final_path);
  write_file_atomic(fs::path(dir_) / "latest", name + "\n");  // moved only once the file is safe

  // Keep the newest keep_last step files (never the one `latest` names), and drop temporary
  // files a killed writer left (only rank 0 of one job writes here, so none is in use).
  std::vector<fs::path> steps;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("step-", 0) == 0 && e.path().extension() == ".pt") steps.push_back(e.path());
    if (f[0] == '.' && f.find(".tmp.") != std::string::npos) fs::remove(e.path());
  }
  std::sort(steps.begin(), steps.end());
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep_last_) < steps.size(); ++i)
    if (steps[i].filename() != name) fs::remove(steps[i]);
  return final_path.string();
}

CheckpointContent load_checkpoint(const std::string& path, models::DenoiserImpl& model, torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive a = open_archive(path);
  CheckpointContent c;
  read_content(a, c);
  const std::string expected = model_signature(model.options());
  if (c.model_signature != expected)
    throw InputError("checkpoint " + path + " holds a different model: it has '" + c.model_signature + "', this run builds '" +
                     expected + "'. Use another run directory, or the config the checkpoint was made with.");
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters(true)) {
    const torch::Tensor t = read_tensor(a, "model/" + p.key());
    if (!t.sizes().equals(p.value().sizes()))
      throw InputError("checkpoint " + path + ": parameter " + p.key() + " has shape " + c10::str(t.sizes()) + ", expected " +
                       c10::str(p.value().sizes()));
    p.value().copy_(t);
  }
  for (auto& b : model.named_buffers(true)) b.value().copy_(read_tensor(a, "model/" + b.key(), /*is_buffer=*/true));
  if (optimizer) {
    torch::serialize::InputArchive opt;
    a.read("optimizer", opt);
    optimizer->load(opt);
    move_optimizer_state_to_parameters(*optimizer);
  }
  return c;
}

CheckpointSummary read_checkpoint(const std::string& path) {
  torch::serialize::InputArchive a = open_archive(path);
  CheckpointSummary s;
  read_content(a, s.content);
  for (const auto& key : a.keys()) {
    if (key.rfind("model/", 0) != 0) continue;
    torch::Tensor t;
    try {
      a.read(key, t);
    } catch (const c10::Error&) {
      a.read(key, t, /*is_buffer=*/true);
    }
    s.tensors.emplace_back(key.substr(6), t);
  }
  std::sort(s.tensors.begin(), s.tensors.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return s;
}

std::string resolve_checkpoint(const std::string& path, bool prefer_best) {
  fs::path p(path);
  if (fs::is_regular_file(p)) return p.string();
  if (fs::is_directory(p / "checkpoints")) p /= "checkpoints";
  if (fs::is_directory(p)) {
    if (prefer_best && fs::exists(p / "best.pt")) return (p / "best.pt").string();
    if (auto l = CheckpointStore(p.parent_path().string(), 1).latest()) return *l;
    throw InputError("no checkpoint in " + path + " (no checkpoints/latest)");
  }
  throw InputError("checkpoint " + path + " does not exist");
}

void check_resumable(const CheckpointContent& c, const config::Config& config, int ranks, const std::string& path, bool root) {
  const config::Config saved = config::saved_config(c.config_yaml, path + " (its saved config)");
  std::string fixed, changed;
  for (const auto& k : config::project_schema().keys()) {
    if (same_value(saved, config, k)) continue;
    std::string& list = defines_run(k.path) ? fixed : changed;
    list += (list.empty() ? "" : ", ") + k.path + " " + saved.text(k.path) + " -> " + config.text(k.path);
  }
  if (!fixed.empty())
    throw InputError("cannot resume " + path + " with " + fixed +
                     ": these settings define the run. Use a new run directory (train.run_dir) for a new experiment.");
  if (c.state.step_in_epoch > 0 && c.state.ranks != ranks)
    throw InputError(fmt::format("cannot resume {} in the middle of an epoch with {} ranks: it was made with {} (rerun with "
                                 "that many, or resume from an end-of-epoch checkpoint)",
                                 path, ranks, c.state.ranks));
  if (root && !changed.empty()) log::warn("resuming with changed settings: " + changed);
  if (root && c.state.ranks != ranks)
    log::warn(fmt::format("resuming a {}-rank run with {} ranks: the global batch changes from here on", c.state.ranks, ranks));
}

}  // namespace cxr::train
