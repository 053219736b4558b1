#include <doctest/doctest.h>

#include <torch/torch.h>

#include "helpers.hpp"
#include "loader/batch.hpp"

using namespace cxr;

TEST_SUITE("torch") {
  TEST_CASE("shard images become a float batch [N, 1, S, S] scaled to [0, 1]") {
    test::ScratchDir dir("batch");
    const std::string path = (dir.path / "s.h5").string();
    const int size = 8;
    {
      shards::ShardWriter w(path, {"train", size, 3, 1, "d"});
      for (int i = 0; i < 3; ++i) {
        std::vector<std::uint8_t> img(size * size);
        for (std::size_t p = 0; p < img.size(); ++p) img[p] = static_cast<std::uint8_t>((p * 4 + static_cast<std::size_t>(i) * 50) % 256);
        w.append(img.data(), {"x" + std::to_string(i) + ".png", i, 0, "PA", "M", 30, 0});
      }
      w.close();
    }
    const shards::ShardReader r(path);
    const torch::Tensor b = loader::read_batch(r, 1, 2);
    CHECK(b.sizes() == torch::IntArrayRef({2, 1, size, size}));
    CHECK(b.dtype() == torch::kFloat32);
    for (int i = 0; i < 2; ++i)
      for (int p = 0; p < size * size; ++p)
        REQUIRE(b[i][0].view(-1)[p].item<float>() == doctest::Approx(((p * 4 + (i + 1) * 50) % 256) / 255.0));
    CHECK(loader::torch_runtime_summary().find("LibTorch " TORCH_VERSION) == 0);
  }
}
