#include <doctest/doctest.h>

#include <torch/torch.h>

#include "models/models.hpp"
#include "train/amp.hpp"

using namespace cxr;
using models::ModelOptions;

TEST_SUITE("models") {
  TEST_CASE("parameter counts at base width 64 match the reference study (31.0 M and 36.6 M)") {
    const auto unet = models::make_model(ModelOptions().name("unet").base_width(64));
    const auto unetpp = models::make_model(ModelOptions().name("unetpp").base_width(64));
    const double m_unet = static_cast<double>(models::parameter_count(*unet)) / 1e6;
    const double m_unetpp = static_cast<double>(models::parameter_count(*unetpp)) / 1e6;
    MESSAGE("U-Net ", models::parameter_count(*unet), ", U-Net++ ", models::parameter_count(*unetpp));
    CHECK(std::round(m_unet * 10) / 10 == doctest::Approx(31.0));
    CHECK(std::round(m_unetpp * 10) / 10 == doctest::Approx(36.6));
  }

  TEST_CASE("output shape equals input shape, for odd sizes, every norm and both models") {
    torch::manual_seed(0);
    for (const char* name : {"unet", "unetpp"}) {
      for (const char* norm : {"batch", "syncbatch", "group", "none"}) {
        for (bool residual : {false, true}) {
          const std::string what = std::string(name) + " norm " + norm + (residual ? " residual" : "");
          CAPTURE(what);
          auto net = models::make_model(ModelOptions().name(name).base_width(4).depth(3).norm(norm).residual(residual));
          const torch::Tensor x = torch::randn({2, 1, 37, 45});
          const torch::Tensor y = net->forward(x);
          CHECK(y.sizes() == x.sizes());
          // Every parameter is wired into the graph (a tiny width-4 net without norm can have dead
          // ReLUs, so a gradient may be zero, but it must exist).
          y.mean().backward();
          for (const auto& p : net->named_parameters()) {
            CAPTURE(p.key());
            CHECK((p.value().grad().defined() && torch::isfinite(p.value().grad()).all().item<bool>()));
          }
        }
      }
    }
  }

  TEST_CASE("U-Net++ deep supervision gives one output per head, the last one the model's output") {
    auto net = models::make_model(ModelOptions().name("unetpp").base_width(4).depth(3).deep_supervision(true));
    const torch::Tensor x = torch::rand({1, 1, 32, 32});
    const auto heads = net->forward_heads(x);
    CHECK(heads.size() == 3);
    for (const auto& h : heads) CHECK(h.sizes() == x.sizes());
    CHECK(torch::equal(heads.back(), net->forward(x)));
    auto no_ds = models::make_model(ModelOptions().name("unetpp").base_width(4).depth(3));
    CHECK(no_ds->forward_heads(x).size() == 1);
  }

  TEST_CASE("a clone has the same parameters and output, and is independent") {
    torch::manual_seed(1);
    auto net = models::make_model(ModelOptions().name("unet").base_width(4).depth(2).norm("group"));
    auto copy = net->clone_model(torch::kCPU);
    const torch::Tensor x = torch::rand({1, 1, 16, 16});
    CHECK(torch::equal(net->forward(x), copy->forward(x)));
    {
      torch::NoGradGuard g;
      copy->parameters()[0].add_(1.0);
    }
    CHECK_FALSE(torch::equal(net->parameters()[0], copy->parameters()[0]));
  }

  TEST_CASE("a wrong input shape names what was expected") {
    auto net = models::make_model(ModelOptions().base_width(4).depth(3));
    CHECK_THROWS_WITH_AS(net->forward(torch::rand({1, 3, 32, 32})), doctest::Contains("expected [N, 1, H, W]"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(net->forward(torch::rand({1, 1, 4, 4})), doctest::Contains("H, W >= 8"), std::invalid_argument);
  }

  TEST_CASE("sync batch norm on one process equals batch norm, forward and backward") {
    torch::manual_seed(2);
    models::SyncBatchNorm sbn(3, nullptr);
    torch::nn::BatchNorm2d bn(3);
    const torch::Tensor x = torch::randn({4, 3, 5, 5});
    const torch::Tensor xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
    const torch::Tensor ya = sbn->forward(xa), yb = bn->forward(xb);
    CHECK(torch::allclose(ya, yb, 1e-5, 1e-5));
    CHECK(torch::allclose(sbn->running_mean, bn->running_mean, 1e-6, 1e-6));
    CHECK(torch::allclose(sbn->running_var, bn->running_var, 1e-6, 1e-6));
    const torch::Tensor w = torch::randn_like(ya);  // a loss that weighs outputs unevenly
    (ya * w).sum().backward();
    (yb * w).sum().backward();
    CHECK(torch::allclose(xa.grad(), xb.grad(), 1e-4, 1e-5));
    CHECK(torch::allclose(sbn->weight.grad(), bn->weight.grad(), 1e-4, 1e-5));
    CHECK(torch::allclose(sbn->bias.grad(), bn->bias.grad(), 1e-4, 1e-5));
  }

  TEST_CASE("sync batch norm statistics do not cancel: a large mean and a small spread stay exact in fp32") {
    // E[x^2] - E[x]^2 in fp32 loses the variance here (300^2 has ~0.005 of rounding against a
    // variance of 0.01); two passes keep it to float precision.
    torch::manual_seed(4);
    models::SyncBatchNorm sbn(2, nullptr);
    const torch::Tensor x = 300 + 0.1 * torch::randn({8, 2, 16, 16}, torch::kFloat64);
    const torch::Tensor y = sbn->forward(x.to(torch::kFloat32)).to(torch::kFloat64);
    const torch::Tensor mean = x.mean({0, 2, 3}, true), var = x.var({0, 2, 3}, false, true);
    const torch::Tensor expected = (x - mean) / torch::sqrt(var + 1e-5);
    CHECK((y - expected).abs().max().item<double>() < 2e-3);  // the input itself is rounded to fp32 (~1e-5 of 300)
  }

  TEST_CASE("sync batch norm under bf16 autocast keeps fp32 statistics and returns the input's type") {
    torch::manual_seed(3);
    models::SyncBatchNorm sbn(3, nullptr);
    torch::nn::BatchNorm2d reference(3);
    const torch::Tensor x = torch::randn({2, 3, 8, 8}) * 0.1 + 40;  // a large mean: bf16 statistics would lose it
    torch::Tensor y;
    {
      train::AutocastGuard autocast("bf16", torch::Device(torch::kCPU));
      y = sbn->forward(x.to(torch::kBFloat16));
    }
    CHECK((y.scalar_type() == torch::kBFloat16));
    CHECK((sbn->running_mean.scalar_type() == torch::kFloat32));
    // The statistics are the fp32 ones of the bf16 input: the output is that of fp32 batch norm
    // on the same (bf16-rounded) input, to bf16's precision.
    const torch::Tensor expected = reference->forward(x.to(torch::kBFloat16).to(torch::kFloat32));
    CHECK((y.to(torch::kFloat32) - expected).abs().max().item<double>() < 0.05);
  }
}
