#include "noise/noise.hpp"

#include <torch/torch.h>

#include "common/error.hpp"
#include "common/parallel.hpp"
#include "random/keyed.hpp"

namespace cxr::noise {

std::uint64_t image_id(const std::string& name) { return rng::image_id(name); }

torch::Tensor obfuscate(const torch::Tensor& clean, const std::vector<std::uint64_t>& ids, std::int64_t epoch,
                        const NoiseOptions& o) {
  if (clean.dim() != 4 || clean.size(0) != static_cast<std::int64_t>(ids.size()) || clean.scalar_type() != torch::kFloat32 ||
      !clean.device().is_cpu())
    throw std::invalid_argument("obfuscate: expected a float CPU tensor [N, C, H, W] with one id per image");
  if (o.mode() != "fixed" && o.mode() != "resample") throw InputError("noise.mode: expected fixed or resample");
  const torch::Tensor in = clean.contiguous();
  torch::Tensor out = torch::empty_like(in);
  const std::int64_t per_image = in[0].numel();
  const std::uint64_t draw = o.mode() == "fixed" ? 0 : static_cast<std::uint64_t>(epoch) + 1;
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // Images in parallel (o.threads(), by default LibTorch's intra-op count): each image has its
  // own keyed stream, so the result does not depend on the thread count. A GPU step at 256x256
  // needs this; one thread draws the noise of about 800 images/s.
  const double mean = o.mean(), sigma = o.sigma();
  const bool clip = o.clip();
  parallel_for_each(ids.size(), o.threads() > 0 ? o.threads() : torch::get_num_threads(), [&](std::size_t n) {
    rng::KeyedStream stream(o.seed(), o.purpose(), ids[n], draw);
    const std::int64_t base = static_cast<std::int64_t>(n) * per_image;
    for (std::int64_t i = 0; i < per_image; ++i) {
      double v = src[base + i] + mean + sigma * stream.normal();
      if (clip) v = std::min(1.0, std::max(0.0, v));
      dst[base + i] = static_cast<float>(v);
    }
  });
  return out;
}

}  // namespace cxr::noise
