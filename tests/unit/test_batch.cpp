#include <doctest/doctest.h>

#include <torch/torch.h>

#include <fstream>

#include "helpers.hpp"
#include "loader/dataset.hpp"
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
}
