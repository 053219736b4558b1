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
