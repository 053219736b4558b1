#include <doctest/doctest.h>

#include <torch/torch.h>

#include <set>

#include "loader/dataset.hpp"
#include "noise/noise.hpp"
#include "train/amp.hpp"
#include "metrics/metrics.hpp"
#include "train/options.hpp"
#include "helpers.hpp"
#include "models/models.hpp"
#include "image/tensor.hpp"
#include "train/checkpoint.hpp"

using namespace cxr;

TEST_SUITE("training") {
  TEST_CASE("noise depends on (seed, image, epoch), not on the batch an image is in") {
    const torch::Tensor clean = torch::full({3, 1, 8, 8}, 0.5f);
    const noise::NoiseOptions o = noise::NoiseOptions().mean(0.1).sigma(0.2).seed(7);
    const torch::Tensor abc = noise::obfuscate(clean, {11, 22, 33}, 0, o);
    const torch::Tensor cb = noise::obfuscate(clean.slice(0, 0, 2), {33, 22}, 0, o);
    CHECK(torch::equal(abc[2], cb[0]));
    CHECK(torch::equal(abc[1], cb[1]));
    CHECK_FALSE(torch::equal(abc[0], abc[1]));
    // fixed: the same every epoch; resample: new each epoch.
    CHECK(torch::equal(noise::obfuscate(clean, {11, 22, 33}, 5, o), abc));
    CHECK_FALSE(torch::equal(noise::obfuscate(clean, {11, 22, 33}, 5, noise::NoiseOptions(o).mode("resample")),
                             noise::obfuscate(clean, {11, 22, 33}, 6, noise::NoiseOptions(o).mode("resample"))));
    CHECK_FALSE(torch::equal(noise::obfuscate(clean, {11, 22, 33}, 0, noise::NoiseOptions(o).seed(8)), abc));
  }

  TEST_CASE("noise statistics: mean 0.1 and sigma as asked before clipping, clipped to [0, 1] after") {
    const torch::Tensor clean = torch::full({4, 1, 64, 64}, 0.5f);
    const auto o = noise::NoiseOptions().mean(0.1).sigma(0.1).clip(false);
    const torch::Tensor d = noise::obfuscate(clean, {1, 2, 3, 4}, 0, o) - clean;
    CHECK(d.mean().item<double>() == doctest::Approx(0.1).epsilon(0.02));
    CHECK(d.std().item<double>() == doctest::Approx(0.1).epsilon(0.02));
    const torch::Tensor c = noise::obfuscate(clean, {1, 2, 3, 4}, 0, noise::NoiseOptions().sigma(0.6));
    CHECK(c.min().item<float>() >= 0.0f);
    CHECK(c.max().item<float>() <= 1.0f);
  }

  TEST_CASE("the sampler: ranks' slices of a step make up the 1-rank batch; each epoch a new permutation") {
    const std::size_t n = 50;
    loader::DistributedSampler one(n, 6, 0, 1, 9);
    loader::DistributedSampler r0(n, 2, 0, 3, 9), r1(n, 2, 1, 3, 9), r2(n, 2, 2, 3, 9);
    CHECK(one.steps_per_epoch() == 8);
    CHECK(r0.steps_per_epoch() == 8);
    std::set<std::size_t> seen;
    for (std::size_t step = 0; step < 8; ++step) {
      std::vector<std::size_t> joined;
      for (auto* s : {&r0, &r1, &r2}) {
        const auto b = s->batch(2, step);
        joined.insert(joined.end(), b.begin(), b.end());
      }
      CHECK(joined == one.batch(2, step));
      seen.insert(joined.begin(), joined.end());
    }
    CHECK(seen.size() == 48);  // no image twice in an epoch; the 2-image tail is dropped
    CHECK(one.batch(2, 0) != one.batch(3, 0));
  }

  TEST_CASE("evaluation slices cover every image exactly once, for any rank count") {
    for (int world : {1, 2, 3, 7}) {
      std::vector<int> count(23, 0);
      for (int r = 0; r < world; ++r)
        for (auto i : loader::evaluation_slice(23, r, world)) ++count[i];
      for (int c : count) CHECK(c == 1);
    }
  }

  TEST_CASE("loss scaler: grows after clean steps, backs off and reports inf/NaN") {
    train::LossScaler s(true, train::LossScalerOptions().init_scale(1024).growth_interval(3));
    torch::Tensor p = torch::zeros({4}, torch::requires_grad());
    auto set_grad = [&](float v) {
      p.mutable_grad() = torch::full({4}, v);
    };
    for (int i = 0; i < 3; ++i) {
      set_grad(2048.0f);
      CHECK(s.unscale({p}));
      CHECK(p.grad()[0].item<float>() == doctest::Approx(2048.0f / static_cast<float>(s.scale())));
      s.update(false);
    }
    CHECK(s.scale() == 2048);  // grown after 3 clean steps
    set_grad(std::numeric_limits<float>::infinity());
    CHECK_FALSE(s.unscale({p}));
    s.update(true);
    CHECK(s.scale() == 1024);
    CHECK(s.growth_tracker() == 0);
    set_grad(std::nanf(""));
    CHECK_FALSE(s.unscale({p}));
    s.update(true);
    CHECK(s.scale() == 512);
    train::LossScaler off(false);
    CHECK(off.scale() == 1);
    CHECK(torch::equal(off.scale_loss(torch::ones({1})), torch::ones({1})));
  }

  TEST_CASE("bf16 autocast runs a CPU forward in bfloat16 and restores the state") {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 2, 3));
    const torch::Tensor x = torch::rand({1, 1, 8, 8});
    {
      train::AutocastGuard g("bf16", torch::kCPU);
      CHECK((conv->forward(x).scalar_type() == torch::kBFloat16));
    }
    CHECK((conv->forward(x).scalar_type() == torch::kFloat32));
    CHECK_THROWS(train::AutocastGuard("fp16", torch::kCPU));
  }

  TEST_CASE("losses: zero for a perfect output; the loss's SSIM is the evaluated SSIM, differentiable") {
    const torch::Tensor a = torch::rand({2, 1, 24, 24});
    for (const char* kind : {"l1", "mse", "l1_ssim"}) CHECK(train::per_image_loss(kind, a, a, 0.16).abs().max().item<double>() < 1e-6);
    CHECK(metrics::ssim_for_loss(a, a).mean().item<double>() == doctest::Approx(1.0));
    CHECK(metrics::ssim_for_loss(a, torch::rand({2, 1, 24, 24})).mean().item<double>() < 0.5);
    // The loss's SSIM is the evaluated one (same window), only differentiable and unclamped.
    const torch::Tensor b = (a + 0.05 * torch::randn_like(a)).clamp(0, 1);
    CHECK(torch::allclose(metrics::ssim_for_loss(b, a), metrics::ssim(b, a), 1e-4, 1e-5));
  }

  TEST_CASE("a checkpoint round-trips on the CPU: parameters, SGD state, position, and 'no validation yet'") {
    test::ScratchDir dir("ckpt");
    torch::manual_seed(1);
    auto model = models::make_model(models::ModelOptions().base_width(4).depth(2).norm("group"));
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    model->forward(torch::rand({1, 1, 16, 16})).mean().backward();
    sgd.step();
    train::CheckpointStore store(dir.path.string(), 2);
    train::CheckpointContent c{{}, "unet", train::model_signature(model->options()), "train:\n  optimizer: sgd\n"};
    c.state.global_step = 7;
    const std::string path = store.save(*model, sgd, c, false);
    auto other = models::make_model(models::ModelOptions().base_width(4).depth(2).norm("group"));
    torch::optim::SGD other_sgd(other->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    const auto back = train::load_checkpoint(path, *other, &other_sgd);
    CHECK(back.state.global_step == 7);
    CHECK_FALSE(back.state.best_val_loss.has_value());
    CHECK_FALSE(back.state.last_val_loss.has_value());
    for (std::size_t i = 0; i < model->parameters().size(); ++i) CHECK(torch::equal(model->parameters()[i], other->parameters()[i]));
    CHECK(other_sgd.state().size() == sgd.state().size());
    c.state.global_step = 8;
    c.state.best_val_loss = c.state.last_val_loss = 0.25;
    const auto with_val = train::read_checkpoint(store.save(*model, sgd, c, true)).content.state;
    CHECK(with_val.best_val_loss.value_or(-1) == 0.25);
  }

  TEST_CASE("images to tensors and back: exact for 8-bit values, clamped beyond [0, 1]") {
    const image::Gray8 g{2, 2, {0, 64, 128, 255}};
    const torch::Tensor t = image::to_tensor(g);
    CHECK(t.sizes() == torch::IntArrayRef({1, 1, 2, 2}));
    CHECK(image::to_gray8(t).pixels == g.pixels);  // 8 bits -> [0, 1] -> 8 bits is exact
    CHECK(image::to_gray8(t[0][0] * 2).pixels == std::vector<std::uint8_t>{0, 128, 255, 255});  // clamped
  }
}
