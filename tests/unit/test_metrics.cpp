#include <doctest/doctest.h>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "metrics/metrics.hpp"

using namespace cxr;

TEST_SUITE("metrics") {
  TEST_CASE("PSNR and SSIM agree with scikit-image to 1e-4 on stored vectors") {
    std::ifstream in(CXR_TEST_DATA_DIR "/metric_vectors.txt");
    REQUIRE_MESSAGE(in.good(), "missing " CXR_TEST_DATA_DIR "/metric_vectors.txt");
    std::string line;
    std::getline(in, line);
    int cases = 0;
    while (std::getline(in, line)) {
      long h = 0, w = 0;
      std::istringstream(line) >> h >> w;
      auto read_image = [&] {
        std::getline(in, line);
        std::istringstream ss(line);
        std::vector<double> v(static_cast<std::size_t>(h * w));
        for (auto& x : v) ss >> x;
        return torch::tensor(v, torch::kFloat64).view({1, 1, h, w});
      };
      const torch::Tensor clean = read_image(), output = read_image();
      double psnr = 0, ssim = 0, ssim3 = 0;
      std::getline(in, line);
      std::istringstream(line) >> psnr >> ssim >> ssim3;
      CAPTURE(h);
      CAPTURE(w);
      CHECK(metrics::psnr(output, clean).item<double>() == doctest::Approx(psnr).epsilon(1e-5));
      CHECK(std::fabs(metrics::ssim(output, clean).item<double>() - ssim) < 1e-4);
      CHECK(std::fabs(metrics::ssim_3x3(output, clean).item<double>() - ssim3) < 1e-4);
      ++cases;
    }
    CHECK(cases == 4);
  }

  TEST_CASE("per-image values, clamped output; identical images score perfectly") {
    const torch::Tensor a = torch::rand({3, 1, 20, 20});
    CHECK(metrics::psnr(a, a).sizes() == torch::IntArrayRef({3}));
    CHECK(metrics::psnr(a, a).min().item<double>() > 150);
    CHECK(metrics::ssim(a, a).min().item<double>() == doctest::Approx(1.0));
    CHECK(metrics::ssim_3x3(a, a).min().item<double>() == doctest::Approx(1.0));
    // Output outside [0, 1] is clamped first: 1.5 scores as 1.
    const torch::Tensor ones = torch::ones({1, 1, 8, 8});
    CHECK(metrics::psnr(ones * 1.5, ones).item<double>() > 150);
  }

  TEST_CASE("classical baselines remove the noise mean and some of the noise") {
    torch::manual_seed(0);
    const torch::Tensor clean = torch::full({2, 1, 32, 32}, 0.5f);
    const torch::Tensor noisy = (clean + 0.1 + 0.1 * torch::randn_like(clean)).clamp(0, 1);
    const double before = metrics::psnr(noisy, clean).mean().item<double>();
    CHECK(metrics::psnr(metrics::gaussian_filter(noisy, 1.5, 0.1), clean).mean().item<double>() > before + 10);
    CHECK(metrics::psnr(metrics::median_filter(noisy, 5, 0.1), clean).mean().item<double>() > before + 10);
    CHECK(metrics::median_filter(noisy, 3, 0.1).sizes() == noisy.sizes());
  }
}

#include <filesystem>

#include "metrics/lpips.hpp"

namespace {
// The weights and images of tests/data/make_lpips_vector.py, rebuilt from the same formulas.
torch::Tensor formula(std::vector<std::int64_t> shape, int k, const std::string& kind) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  const torch::Tensor i = torch::arange(n, torch::kFloat64);
  torch::Tensor v;
  if (kind == "weight") v = 0.05 * torch::sin(0.7 * i + k);
  else if (kind == "bias") v = 0.01 * torch::cos(i + k);
  else v = 0.1 * (1 + torch::cos(0.3 * i + k)) / 2;
  return v.to(torch::kFloat32).view(shape);
}
torch::Tensor test_image(std::int64_t h, std::int64_t w, int which) {
  const auto grids = torch::meshgrid({torch::arange(h, torch::kFloat64), torch::arange(w, torch::kFloat64)});
  const torch::Tensor &y = grids[0], &x = grids[1];
  torch::Tensor a = 0.5 + 0.4 * torch::sin(x / 5) * torch::cos(y / 7);
  if (which == 1) a = (a + 0.1 * torch::sin(x * y / 11)).clamp(0, 1);
  return a.to(torch::kFloat32).view({1, 1, h, w});
}
}  // namespace

TEST_SUITE("metrics") {
  TEST_CASE("LPIPS agrees with the reference formula on stored vectors (weights given by formulas)") {
    const std::int64_t convs[5][4] = {{64, 3, 11, 0}, {192, 64, 5, 3}, {384, 192, 3, 6}, {256, 384, 3, 8}, {256, 256, 3, 10}};
    std::map<std::string, torch::Tensor> backbone, lin;
    for (int k = 0; k < 5; ++k) {
      const auto& c = convs[k];
      const std::string p = "features." + std::to_string(c[3]);
      backbone[p + ".weight"] = formula({c[0], c[1], c[2], c[2]}, k, "weight");
      backbone[p + ".bias"] = formula({c[0]}, k, "bias");
      lin["lin" + std::to_string(k) + ".model.1.weight"] = formula({1, c[0], 1, 1}, k, "lin");
    }
    const metrics::Lpips lpips(backbone, lin);
    std::ifstream in(CXR_TEST_DATA_DIR "/lpips_vector.txt");
    std::string line;
    std::getline(in, line);
    int cases = 0;
    while (std::getline(in, line)) {
      std::int64_t h = 0, w = 0;
      double expected = 0;
      std::istringstream(line) >> h >> w >> expected;
      const double got = lpips.distance(test_image(h, w, 0), test_image(h, w, 1)).item<double>();
      CHECK(got == doctest::Approx(expected).epsilon(1e-4));
      ++cases;
    }
    CHECK(cases == 2);
    CHECK(lpips.distance(test_image(64, 64, 0), test_image(64, 64, 0)).item<double>() == doctest::Approx(0.0));
    // A wrong shape is refused by name.
    backbone["features.3.weight"] = torch::zeros({1});
    CHECK_THROWS_WITH(metrics::Lpips(backbone, lin), doctest::Contains("features.3.weight"));
  }

  TEST_CASE("the shipped LPIPS v0.1 lin weights load with their documented per-layer sums") {
    const std::string path = CXR_SHARED_DATA_DIR "/lpips/converted/lpips_v0.1_alex.json";
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipped: " << path << " not found (the LPIPS weights live in ../shared/data)");
      return;
    }
    const auto w = metrics::read_weight_file(path);
    const double sums[5] = {2.34953, 16.14303, 39.26844, 27.19718, 20.31718};
    for (int k = 0; k < 5; ++k)
      CHECK(w.at("lin" + std::to_string(k) + ".model.1.weight").sum().item<double>() == doctest::Approx(sums[k]).epsilon(1e-5));
  }
}
