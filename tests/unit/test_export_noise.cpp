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

// PSNR of an estimate (values in [0, 1]) against the clean image, over the pixels the clamp left alone.
double psnr_unclipped(const std::vector<double>& estimate, const std::vector<std::uint8_t>& clean, const std::vector<std::uint16_t>& noisy) {
  double se = 0;
  std::size_t n = 0;
  for (std::size_t p = 0; p < kPixels; ++p) {
    if (noisy[p] == 0 || noisy[p] == 65535) continue;
    const double d = estimate[p] - clean[p] / 255.0;
    se += d * d;
    ++n;
  }
  return se == 0 ? 200.0 : 10 * std::log10(static_cast<double>(n) / se);
}

// What an outsider who knows the project subtracts: the training noise of the default seed 0
// for this image (noise::obfuscate's "fixed" draw, pixel by pixel), mean and sigma as exported.
std::vector<double> default_seed_noise(std::uint64_t id, double mean, double sigma) {
  rng::KeyedStream stream(0, rng::Purpose::Noise, id, 0);
  std::vector<double> n(kPixels);
  for (auto& v : n) v = mean + sigma * stream.normal();
  return n;
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

  TEST_CASE("regenerating the noise with the default seed does not give the image back (it would if the export used it)") {
    const auto clean = clean_image();
    const std::uint64_t id = rng::image_id("00000013_000.png");
    const auto n0 = default_seed_noise(id, 0.1, 0.1);
    std::vector<std::uint16_t> exported(kPixels);
    noise::obfuscated_copies(clean.data(), kPixels, noise::fresh_export_key(), id, 1, {0.1, 0.1}, exported.data());
    std::vector<double> attack(kPixels), noisy_as_is(kPixels);
    for (std::size_t p = 0; p < kPixels; ++p) {
      noisy_as_is[p] = exported[p] / 65535.0 - 0.1;  // the noisy image, its known mean taken off
      attack[p] = exported[p] / 65535.0 - n0[p];
    }
    const double attacked = psnr_unclipped(attack, clean, exported), plain = psnr_unclipped(noisy_as_is, clean, exported);
    CAPTURE(attacked);
    CAPTURE(plain);
    CHECK(attacked < plain);  // subtracting the wrong noise adds noise: no better than not trying
    CHECK(attacked < 25);
    // The control: had the export drawn the default seed's training noise, the same subtraction
    // would give the image back exactly (up to the uint16 rounding).
    std::vector<std::uint16_t> seeded(kPixels);
    for (std::size_t p = 0; p < kPixels; ++p)
      seeded[p] = static_cast<std::uint16_t>(std::lround(std::clamp(clean[p] / 255.0 + n0[p], 0.0, 1.0) * 65535.0));
    for (std::size_t p = 0; p < kPixels; ++p) attack[p] = seeded[p] / 65535.0 - n0[p];
    CHECK(psnr_unclipped(attack, clean, seeded) > 90);
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
