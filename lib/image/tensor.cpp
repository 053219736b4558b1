#include "image/tensor.hpp"

namespace cxr::image {

torch::Tensor to_tensor(const Gray8& image) {
  return torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {1, 1, image.height, image.width}, torch::kUInt8)
      .to(torch::kFloat32)
      .div(255.0);
}

Gray8 to_gray8(const torch::Tensor& image) {
  const torch::Tensor u8 = image.clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
  const std::uint8_t* p = u8.data_ptr<std::uint8_t>();
  Gray8 out;
  out.width = static_cast<int>(u8.size(-1));
  out.height = static_cast<int>(u8.size(-2));
  out.pixels.assign(p, p + u8.numel());
  return out;
}

}  // namespace cxr::image
