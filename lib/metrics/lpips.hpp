#pragma once
// LPIPS v0.1 with the AlexNet trunk (Zhang et al., CVPR 2018), as the reference study computed
// it: gray replicated to three channels, scaled to [-1, 1], then the LPIPS input shift and scale;
// the five ReLU outputs of AlexNet's features, each normalised over channels, squared
// differences weighted by the learned 1x1 "lin" layers, averaged over space, summed over layers.
//
// Weights come from files in the layout of ../shared/data/lpips/converted: a JSON list of
// tensors (name, shape, offset_bytes, nbytes) next to raw little-endian float32. The lin weights
// ship there; the ImageNet AlexNet backbone does not, and must be converted from torchvision's
// published weights with scripts/convert_alexnet_weights.py. Without it LPIPS is unavailable.
#include <torch/torch.h>

#include <map>
#include <string>

namespace cxr::metrics {

// Tensors by name from a converted weights file (`path` is the .json; the .f32 sits beside it).
// InputError naming the file when it is missing, truncated or not in that layout.
std::map<std::string, torch::Tensor> read_weight_file(const std::string& json_path);

class Lpips {
 public:
  // backbone: features.{0,3,6,8,10}.{weight,bias} (torchvision AlexNet naming);
  // lin: lin{0..4}.model.1.weight, shapes [1, C, 1, 1]. Throws InputError on a shape mismatch.
  Lpips(std::map<std::string, torch::Tensor> backbone, std::map<std::string, torch::Tensor> lin);
  // Per-image distances [N] between [N, 1, H, W] images in [0, 1] (H, W >= 32).
  torch::Tensor distance(const torch::Tensor& a, const torch::Tensor& b) const;

 private:
  std::map<std::string, torch::Tensor> w_;
};

}  // namespace cxr::metrics
