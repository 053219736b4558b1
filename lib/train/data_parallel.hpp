#pragma once
// train.strategy=dp, the reference's DataParallel: one process, one model replica per device, the
// batch split over them, the replicas' gradients summed onto the first (the master), whose
// optimizer steps. On CPU, train.dp_devices replicas stand in for GPUs (how it is tested). With
// one device it is plain single-device training, which is what ddp ranks run too: the training
// step always goes through here.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "models/models.hpp"

namespace cxr::train {

// Forward, loss and backward of one model on one device over (part of) a batch, the loss
// weighted by the part's share of the batch; returns the weighted loss (still on the device).
using ForwardBackward = std::function<torch::Tensor(models::DenoiserImpl& model, const torch::Device& device,
                                                    const torch::Tensor& noisy, const torch::Tensor& clean, double share)>;

class DataParallel {
 public:
  // devices[0] is the master's; the others get clones of it.
  DataParallel(std::shared_ptr<models::DenoiserImpl> master, std::vector<torch::Device> devices);
  // The whole batch's loss (on the master's device) with the master's .grad holding the whole
  // batch's gradient: replicas copy the master's parameters and buffers, each runs `part` on its
  // slice, and their gradients are summed onto the master's.
  torch::Tensor forward_backward(const torch::Tensor& noisy, const torch::Tensor& clean, const ForwardBackward& part);

 private:
  std::shared_ptr<models::DenoiserImpl> master_;
  std::vector<torch::Device> devices_;
  std::vector<std::shared_ptr<models::DenoiserImpl>> replicas_;  // devices 1..
};

}  // namespace cxr::train
