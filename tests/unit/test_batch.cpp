#include <doctest/doctest.h>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "loader/dataset.hpp"
#include "noise/noise.hpp"
#include "noise/export_noise.hpp"
#include "random/keyed.hpp"
#include "shards/manifest.hpp"

using namespace cxr;

TEST_SUITE("torch") {
  TEST_CASE("a dataset split reads any images as a float batch [N, 1, S, S] scaled to [0, 1]") {
    test::ScratchDir dir("batch");
    const int size = 8;
    {
      shards::ShardWriter w((dir.path / "s.h5").string(), {"train", size, 3, 1, "d"});
      for (int i = 0; i < 3; ++i) {
        std::vector<std::uint8_t> img(size * size);
        for (std::size_t p = 0; p < img.size(); ++p) img[p] = static_cast<std::uint8_t>((p * 4 + static_cast<std::size_t>(i) * 50) % 256);
        w.append(img.data(), {"x" + std::to_string(i) + ".png", i, 0, "PA", "M", 30, 0});
      }
      w.close();
    }
    shards::Manifest manifest;
    manifest.splits["train"] = {3, 3, {{"s.h5", "train", "d", "", 0, 3, 3, 0}}};
    shards::write_manifest(dir.path.string(), manifest);
    const loader::Dataset data(dir.path.string(), "train");
    CHECK(data.size() == 3);
    const torch::Tensor b = data.read_batch({2, 0});
    CHECK(b.sizes() == torch::IntArrayRef({2, 1, size, size}));
    CHECK(b.dtype() == torch::kFloat32);
    const int order[2] = {2, 0};
    for (int k = 0; k < 2; ++k)
      for (int p = 0; p < size * size; ++p)
        REQUIRE(b[k][0].view(-1)[p].item<float>() == doctest::Approx(((p * 4 + order[k] * 50) % 256) / 255.0));
    // The noisy batch every stage starts from: those images, and their copies obfuscated by key.
    const auto nb = loader::read_noisy_batch(data, {2, 0}, noise::NoiseOptions().sigma(0.2), 3);
    CHECK(torch::equal(nb.clean, b));
    CHECK(torch::equal(nb.noisy, noise::obfuscate(b, {data.id(2), data.id(0)}, 3, noise::NoiseOptions().sigma(0.2))));
    CHECK_FALSE(torch::equal(nb.noisy, loader::read_noisy_batch(data, {2, 0}, noise::NoiseOptions().sigma(0.2).mode("resample"), 4).noisy));
    // A manifest whose digest does not match the shard is refused by name.
    manifest.splits["train"].shards[0].digest = "other";
    shards::write_manifest(dir.path.string(), manifest);
    CHECK_THROWS_WITH(loader::Dataset(dir.path.string(), "train"), doctest::Contains("does not belong to"));
  }

  TEST_CASE("Noise2Noise pairs: two independent noisy copies, from clean data or from an export's stored copies") {
    test::ScratchDir dir("pairs");
    const int size = 16;
    std::vector<std::uint8_t> img(size * size);
    for (std::size_t p = 0; p < img.size(); ++p) img[p] = static_cast<std::uint8_t>(60 + p % 100);
    const noise::ExportKey key = noise::fresh_export_key();
    for (const char* kind : {"clean", "export"}) {
      const bool exported = std::string(kind) == "export";
      const auto root = dir.path / kind;
      std::filesystem::create_directories(root);
      {
        shards::ShardWriter w((root / "s.h5").string(), {"train", size, 2, 1, "d", exported ? 3 : 0});
        for (int i = 0; i < 2; ++i) {
          const shards::Sample smp{"x" + std::to_string(i) + ".png", i, 0, "PA", "M", 30, 0};
          if (!exported) {
            w.append(img.data(), smp);
            continue;
          }
          std::vector<std::uint16_t> copies(3 * img.size());
          noise::obfuscated_copies(img.data(), img.size(), key, rng::image_id(smp.image), 3, {0.1, 0.1}, copies.data());
          w.append_noisy(copies.data(), smp);
        }
        w.close();
      }
      shards::Manifest manifest;
      manifest.splits["train"] = {2, 2, {{"s.h5", "train", "d", "", 0, 2, 2, 0}}};
      shards::write_manifest(root.string(), manifest);
      const loader::Dataset data(root.string(), "train");
      CHECK(data.noisy_copies() == (exported ? 3 : 0));
      const auto b = loader::read_noisy_pair(data, {0, 1}, noise::NoiseOptions().sigma(0.1), 5);
      CAPTURE(kind);
      CHECK(b.noisy.sizes() == torch::IntArrayRef({2, 1, size, size}));
      CHECK(b.target.sizes() == b.noisy.sizes());
      CHECK(b.clean.defined() != exported);  // an export has no clean image to give
      // Input and target: different noise around the same image, mean 0.1 above it where unclipped.
      const torch::Tensor x = torch::tensor(std::vector<float>(img.begin(), img.end())).view({1, 1, size, size}) / 255.0;
      const torch::Tensor dn = b.noisy - x, dt = b.target - x;
      CHECK_FALSE(torch::equal(b.noisy, b.target));
      CHECK(dn.mean().item<double>() == doctest::Approx(0.1).epsilon(0.25));
      CHECK(dt.mean().item<double>() == doctest::Approx(0.1).epsilon(0.25));
      const double corr = ((dn - dn.mean()) * (dt - dt.mean())).mean().item<double>() / (dn.std().item<double>() * dt.std().item<double>());
      CHECK(std::abs(corr) < 0.15);
      if (exported) {  // the target is the mean of the two copies that are not the input
        std::vector<std::uint16_t> stored(3 * img.size());
        data.read_noisy(0, stored.data());
        std::vector<torch::Tensor> copies;
        for (int c = 0; c < 3; ++c)
          copies.push_back(torch::tensor(std::vector<float>(stored.begin() + c * size * size, stored.begin() + (c + 1) * size * size))
                               .view({size, size}) / noise::kExportScale);
        int input = -1;
        for (int c = 0; c < 3; ++c)
          if (torch::allclose(b.noisy[0][0], copies[c], 0, 1e-6)) input = c;
        REQUIRE(input >= 0);
        const torch::Tensor others = (copies[0] + copies[1] + copies[2] - copies[input]) / 2;
        CHECK(torch::allclose(b.target[0][0], others, 0, 1e-5));
        CHECK(dt.std().item<double>() < 0.85 * dn.std().item<double>());  // sd / sqrt(2), less where clipped
      }
      // The same epoch gives the same pair; supervised reading of an export is refused.
      CHECK(torch::equal(loader::read_noisy_pair(data, {0, 1}, noise::NoiseOptions().sigma(0.1), 5).target, b.target));
      if (exported) CHECK_THROWS_WITH(data.read_batch({0}), doctest::Contains("is an obfuscated export"));
    }
  }

  TEST_CASE("Noise2Noise's bias: E[clamp(x + n)] in closed form against sampling, and unbias() inverts it") {
    torch::manual_seed(1);
    for (double x : {0.0, 0.05, 0.3, 0.7, 0.95, 1.0}) {
      const torch::Tensor n = 0.1 + 0.2 * torch::randn({400000}, torch::kFloat64);
      const double sampled = (x + n).clamp(0, 1).mean().item<double>();
      CAPTURE(x);
      CHECK(noise::expected_noisy(x, 0.1, 0.2) == doctest::Approx(sampled).epsilon(0.002));
    }
    CHECK(noise::expected_noisy(0.5, 0.1, 0.2) == doctest::Approx(0.6).epsilon(0.01));   // the mean shifts it up
    CHECK(noise::expected_noisy(0.95, 0.1, 0.2) < 0.95 + 0.1);                         // the clamp pulls it back near 1
    const torch::Tensor xs = torch::linspace(0.02, 0.98, 49);
    std::vector<float> g;
    for (int i = 0; i < 49; ++i) g.push_back(static_cast<float>(noise::expected_noisy(xs[i].item<double>(), 0.1, 0.2)));
    const torch::Tensor back = noise::unbias(torch::tensor(g), 0.1, 0.2);
    CHECK(torch::allclose(back, xs.to(torch::kFloat32), 0, 1e-3));
    CHECK(noise::unbias(torch::tensor({0.0f, 2.0f}), 0.1, 0.2).equal(torch::tensor({0.0f, 1.0f})));  // outside g's range: the ends
  }

  TEST_CASE("regenerating the noise with the default seed does not give an exported image back (it would if the export used it)") {
    // An outsider who knows the project regenerates the training noise of seed 0 (the default)
    // for the image with the trainer's own noise::obfuscate, from a mid-grey image the clamp
    // leaves alone, and subtracts it.
    constexpr int kSize = 64;
    const std::string name = "00000013_000.png";
    const std::vector<std::uint64_t> id = {rng::image_id(name)};
    std::vector<std::uint8_t> clean(kSize * kSize);
    for (std::size_t p = 0; p < clean.size(); ++p) clean[p] = static_cast<std::uint8_t>(40 + (p % kSize) * 2 + (p / kSize));
    const torch::Tensor x = torch::tensor(std::vector<float>(clean.begin(), clean.end())).view({1, 1, kSize, kSize}) / 255.0;
    const auto seed0 = noise::NoiseOptions().mean(0.1).sigma(0.1);
    const torch::Tensor regenerated = noise::obfuscate(torch::full_like(x, 0.45), id, 0, seed0) - 0.45;
    // PSNR against the clean image over the pixels the clamp left alone in `noisy`.
    auto psnr = [&](const torch::Tensor& estimate, const torch::Tensor& noisy) {
      const torch::Tensor inside = (noisy > 0) & (noisy < 1);
      const double mse = (estimate - x).pow(2).masked_select(inside).mean().item<double>();
      return 10 * std::log10(1 / mse);
    };
    // The export: cxr-preprocess --obfuscate's noise, from a fresh key.
    std::vector<std::uint16_t> stored(clean.size());
    noise::obfuscated_copies(clean.data(), clean.size(), noise::fresh_export_key(), id[0], 1, {0.1, 0.1}, stored.data());
    const torch::Tensor exported = torch::tensor(std::vector<float>(stored.begin(), stored.end())).view_as(x) / noise::kExportScale;
    const double attacked = psnr(exported - regenerated, exported), plain = psnr(exported - 0.1, exported);
    CAPTURE(attacked);
    CAPTURE(plain);
    CHECK(attacked < plain);  // subtracting the wrong noise adds noise: no better than not trying
    CHECK(attacked < 25);
    // The control: an image obfuscated with the default seed's training noise (noise::obfuscate
    // itself) comes back from the same subtraction.
    const torch::Tensor trained_on = noise::obfuscate(x, id, 0, seed0);
    CHECK(psnr(trained_on - regenerated, trained_on) > 60);
  }
}
