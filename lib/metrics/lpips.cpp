#include "metrics/lpips.hpp"

#include <cstring>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"

namespace cxr::metrics {
namespace {

// AlexNet features: (conv index, out, in, kernel, stride, padding); ReLU after each conv, max-pool
// 3/2 after the first two. LPIPS taps the five ReLU outputs.
struct ConvSpec {
  int index;
  std::int64_t out, in, kernel, stride, padding;
};
const ConvSpec kConvs[] = {{0, 64, 3, 11, 4, 2}, {3, 192, 64, 5, 1, 2}, {6, 384, 192, 3, 1, 1}, {8, 256, 384, 3, 1, 1}, {10, 256, 256, 3, 1, 1}};

// w[name], checked to have `shape`.
const torch::Tensor& checked(const std::map<std::string, torch::Tensor>& w, const std::string& name,
                             std::vector<std::int64_t> shape, const std::string& what) {
  const auto it = w.find(name);
  if (it == w.end()) throw InputError(what + ": tensor '" + name + "' is missing");
  if (it->second.sizes() != torch::IntArrayRef(shape))
    throw InputError(what + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                     c10::str(torch::IntArrayRef(shape)));
  return it->second;
}

std::vector<torch::Tensor> features(const std::map<std::string, torch::Tensor>& w, const torch::Tensor& x) {
  std::vector<torch::Tensor> taps;
  torch::Tensor h = x;
  for (int k = 0; k < 5; ++k) {
    const auto& c = kConvs[k];
    if (k == 1 || k == 2) h = torch::max_pool2d(h, 3, 2);
    const std::string p = "features." + std::to_string(c.index);
    h = torch::relu(torch::conv2d(h, w.at(p + ".weight"), w.at(p + ".bias"), c.stride, c.padding));
    taps.push_back(h);
  }
  return taps;
}

}  // namespace

std::map<std::string, torch::Tensor> read_weight_file(const std::string& json_path) {
  const fs::path data = fs::path(json_path).replace_extension(".f32");
  nlohmann::json layout;
  try {
    layout = nlohmann::json::parse(read_text_file(json_path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(json_path + ": not a weights layout (JSON): " + e.what());
  }
  const std::vector<std::uint8_t> bytes = read_binary_file(data);
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : layout.at("tensors")) {
    const auto name = t.at("name").get<std::string>();
    const auto offset = t.at("offset_bytes").get<std::size_t>(), n = t.at("nbytes").get<std::size_t>();
    if (offset + n > bytes.size())
      throw InputError(data.string() + ": tensor " + name + " runs past the end of the file");
    torch::Tensor x = torch::empty(t.at("shape").get<std::vector<std::int64_t>>(), torch::kFloat32);
    if (static_cast<std::size_t>(x.numel()) * 4 != n) throw InputError(json_path + ": tensor " + name + ": shape and nbytes disagree");
    std::memcpy(x.data_ptr<float>(), bytes.data() + offset, n);
    out[name] = x;
  }
  return out;
}

Lpips::Lpips(std::map<std::string, torch::Tensor> backbone, std::map<std::string, torch::Tensor> lin) {
  for (const auto& c : kConvs) {
    const std::string p = "features." + std::to_string(c.index);
    w_[p + ".weight"] = checked(backbone, p + ".weight", {c.out, c.in, c.kernel, c.kernel}, "LPIPS backbone");
    w_[p + ".bias"] = checked(backbone, p + ".bias", {c.out}, "LPIPS backbone");
  }
  for (int k = 0; k < 5; ++k) {
    const std::string name = "lin" + std::to_string(k) + ".model.1.weight";
    w_[name] = checked(lin, name, {1, kConvs[k].out, 1, 1}, "LPIPS lin weights");
  }
}

torch::Tensor Lpips::distance(const torch::Tensor& a, const torch::Tensor& b) const {
  torch::NoGradGuard no_grad;
  // [0, 1] gray -> [-1, 1] RGB -> LPIPS's ScalingLayer.
  const torch::Tensor shift = torch::tensor({-0.030f, -0.088f, -0.188f}).view({1, 3, 1, 1});
  const torch::Tensor scale = torch::tensor({0.458f, 0.448f, 0.450f}).view({1, 3, 1, 1});
  auto prepare = [&](const torch::Tensor& x) { return ((x.to(torch::kFloat32) * 2 - 1).expand({-1, 3, -1, -1}) - shift) / scale; };
  const auto fa = features(w_, prepare(a)), fb = features(w_, prepare(b));
  torch::Tensor total = torch::zeros({a.size(0)});
  for (int k = 0; k < 5; ++k) {
    auto unit = [](const torch::Tensor& f) { return f / (f.pow(2).sum(1, true).sqrt() + 1e-10); };
    const torch::Tensor d = (unit(fa[static_cast<std::size_t>(k)]) - unit(fb[static_cast<std::size_t>(k)])).pow(2);
    total = total + torch::conv2d(d, w_.at("lin" + std::to_string(k) + ".model.1.weight")).mean({1, 2, 3});
  }
  return total;
}

}  // namespace cxr::metrics
