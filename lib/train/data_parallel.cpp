#include "train/data_parallel.hpp"

namespace cxr::train {

DataParallel::DataParallel(std::shared_ptr<models::DenoiserImpl> master, std::vector<torch::Device> devices)
    : master_(std::move(master)), devices_(std::move(devices)) {
  for (std::size_t k = 1; k < devices_.size(); ++k) replicas_.push_back(master_->clone_model(devices_[k]));
}

torch::Tensor DataParallel::forward_backward(const torch::Tensor& noisy, const torch::Tensor& clean, const ForwardBackward& part) {
  if (replicas_.empty()) return part(*master_, devices_[0], noisy, clean, 1.0);
  for (auto& r : replicas_) {
    r->copy_state(*master_);
    r->zero_grad();
  }
  const auto parts = static_cast<std::int64_t>(devices_.size());
  const auto noisy_parts = noisy.chunk(parts), clean_parts = clean.chunk(parts);
  const double total = static_cast<double>(noisy.size(0));
  torch::Tensor loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(devices_[0]));
  for (std::size_t k = 0; k < noisy_parts.size(); ++k)
    loss = loss + part(k == 0 ? *master_ : *replicas_[k - 1], devices_[k], noisy_parts[k], clean_parts[k],
                       static_cast<double>(noisy_parts[k].size(0)) / total)
                      .to(devices_[0]);
  torch::NoGradGuard no_grad;
  auto params = master_->parameters();
  for (std::size_t k = 1; k < noisy_parts.size(); ++k) {
    auto rp = replicas_[k - 1]->parameters();
    for (std::size_t i = 0; i < params.size(); ++i)
      if (rp[i].grad().defined()) params[i].mutable_grad().add_(rp[i].grad().to(devices_[0]));
  }
  return loss;
}

}  // namespace cxr::train
