#pragma once
// Between 8-bit gray images and float tensors in [0, 1] (LibTorch part of lib/image).
#include <torch/torch.h>

#include "image/image.hpp"

namespace cxr::image {

torch::Tensor to_tensor(const Gray8& image);  // [1, 1, H, W] float in [0, 1]
Gray8 to_gray8(const torch::Tensor& image);   // one image, [H, W] or [1, 1, H, W]: clamped to [0, 1], rounded

}  // namespace cxr::image
