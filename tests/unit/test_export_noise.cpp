#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "helpers.hpp"
#include "noise/export_noise.hpp"
#include "random/keyed.hpp"
#include "shards/shard.hpp"

using namespace cxr;

namespace {
constexpr int kSize = 64;
const std::size_t kPixels = kSize * kSize;

// A chest-like gradient with room on both sides of the clamp.
std::vector<std::uint8_t> clean_image() {
  std::vector<std::uint8_t> img(kPixels);
  for (std::size_t p = 0; p < kPixels; ++p) img[p] = static_cast<std::uint8_t>(40 + (p % kSize) * 2 + (p / kSize));
  return img;
}

}  // namespace

TEST_SUITE("export") {
  TEST_CASE("an export's noise: fresh keys differ, a key repeats itself, copies are independent with the stated mean and sigma") {
    const auto a = noise::fresh_export_key(), b = noise::fresh_export_key();
    CHECK(a.bytes != b.bytes);
    const auto clean = clean_image();
    std::vector<std::uint16_t> one(2 * kPixels), again(2 * kPixels), other(2 * kPixels);
    noise::obfuscated_copies(clean.data(), kPixels, a, 7, 2, {0.1, 0.1}, one.data());
    noise::obfuscated_copies(clean.data(), kPixels, a, 7, 2, {0.1, 0.1}, again.data());
    noise::obfuscated_copies(clean.data(), kPixels, b, 7, 2, {0.1, 0.1}, other.data());
    CHECK(one == again);
    CHECK(one != other);
    // Over unclipped pixels: noise mean 0.1, sd 0.1; the two copies' noises uncorrelated.
    double sum = 0, sq = 0, cross = 0;
    std::size_t n = 0;
    for (std::size_t p = 0; p < kPixels; ++p) {
      if (one[p] == 65535 || one[kPixels + p] == 65535 || one[p] == 0) continue;
      const double x = clean[p] / 255.0, e0 = one[p] / 65535.0 - x, e1 = one[kPixels + p] / 65535.0 - x;
      sum += e0, sq += e0 * e0, cross += (e0 - 0.1) * (e1 - 0.1), ++n;
    }
    const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    CHECK(n > kPixels / 2);
    CHECK(mean == doctest::Approx(0.1).epsilon(0.1));
    CHECK(sd == doctest::Approx(0.1).epsilon(0.1));
    CHECK(std::abs(cross / n) / (sd * sd) < 0.1);
  }

  TEST_CASE("an obfuscated shard: noisy copies written and read back, no clean image to read") {
    test::ScratchDir dir("export");
    const std::string path = (dir.path / "s.h5").string();
    const auto clean = clean_image();
    std::vector<std::uint16_t> copies(3 * kPixels);
    noise::obfuscated_copies(clean.data(), kPixels, noise::fresh_export_key(), 1, 3, {0.1, 0.2}, copies.data());
    {
      shards::ShardWriter w(path, {"train", kSize, 2, 1, "d", 3});
      w.append_noisy(copies.data(), {"a.png", 1, 0, "PA", "M", 30, 0});
      CHECK_THROWS_AS(w.append(clean.data(), {"b.png", 2, 0, "PA", "M", 30, 0}), std::logic_error);
      w.close();
    }
    shards::ShardReader r(path);
    CHECK(r.info().copies == 3);
    CHECK(r.info().count == 1);
    std::vector<std::uint16_t> back(3 * kPixels);
    r.read_noisy(0, back.data());
    CHECK(back == copies);
    std::vector<std::uint8_t> img(kPixels);
    CHECK(CXR_ERROR_OF(r.read_image(0, img.data())).find("obfuscated export: it holds noisy copies only") != std::string::npos);
  }
}
