#include <doctest/doctest.h>

#include "privacy/matching.hpp"
#include "synth/synth.hpp"
#include "image/tensor.hpp"

using namespace cxr;

TEST_SUITE("privacy") {
  TEST_CASE("descriptors: unit length, blind to monotonic grey-level changes, finite on a flat image") {
    // At the descriptor's own size, so that no averaging comes between a grey-level change and the ranks.
    const torch::Tensor chest = image::to_tensor(synth::render_chest(privacy::kMatchSide, 0, 1, 1, 0, false));
    const torch::Tensor d = privacy::descriptors(torch::cat({chest, 0.5 * chest + 0.1, chest.pow(2), torch::full_like(chest, 0.3)}));
    REQUIRE(d.sizes() == torch::IntArrayRef({4, privacy::kMatchSide * privacy::kMatchSide}));
    CHECK(d[0].norm().item<double>() == doctest::Approx(1.0));
    // Exposure, an offset (the noise's mean) or a gamma change keep every pixel's rank: NCC 1.
    CHECK(torch::dot(d[0], d[1]).item<double>() == doctest::Approx(1.0));
    CHECK(torch::dot(d[0], d[2]).item<double>() == doctest::Approx(1.0));
    CHECK(torch::isfinite(d[3]).all().item<bool>());
    CHECK(d[3].abs().max().item<double>() == 0.0);
  }

  TEST_CASE("match: ranks count ties against the attacker; follow-ups ranked among other patients' images") {
    // Gallery of 5 orthogonal descriptors, so a query's similarities are its own coordinates.
    privacy::Gallery g{torch::eye(5), {7, 7, 8, 9, 7}};
    const torch::Tensor q = torch::tensor({0.9f, 0.95f, 0.1f, 0.95f, 0.0f,    // query made from image 0
                                           0.0f, 0.0f, 1.0f, 0.2f, 0.0f}).reshape({2, 5});  // from image 2
    const auto m = privacy::match(g, q, {0, 2});
    CHECK(m[0].own_rank == 3);       // images 1 and 3 (0.95) beat the original (0.9)
    CHECK(m[0].followup_same == 2);  // images 1 and 4 are patient 7's other studies
    CHECK(m[0].followup_rank == 2);  // the best of them (0.95) ties with image 3 of patient 9: counted above it
    CHECK(m[1].own_rank == 1);
    CHECK(m[1].followup_same == 0);  // patient 8 has no other study
    CHECK(m[1].followup_rank == 0);
  }

  TEST_CASE("match: synthetic patients' follow-ups are found far above chance; obfuscated images find their originals") {
    // Twenty patients with two studies each (the generator shares a patient's anatomy between them).
    std::vector<torch::Tensor> images;
    std::vector<std::int64_t> patients, own;
    for (std::uint64_t i = 0; i < 40; ++i) {
      images.push_back(image::to_tensor(synth::render_chest(64, 3, i / 2, i, 0, false)));
      patients.push_back(static_cast<std::int64_t>(i / 2));
      own.push_back(static_cast<std::int64_t>(i));
    }
    const torch::Tensor clean = torch::cat(images);
    const privacy::Gallery g{privacy::descriptors(clean), patients};
    int followups_first = 0;
    for (const auto& m : privacy::match(g, g.descriptors, own)) followups_first += m.followup_rank == 1;
    CAPTURE(followups_first);
    // Chance: 40 queries x 1/39 ~ 1. Measured 16; with every image its own patient's (a broken
    // generator) 0-5 over five seeds.
    CHECK(followups_first >= 8);
    torch::manual_seed(0);
    const torch::Tensor obfuscated = (clean + 0.1 + 0.2 * torch::randn_like(clean)).clamp(0, 1);
    for (const auto& m : privacy::match(g, privacy::descriptors(obfuscated), own)) CHECK(m.own_rank == 1);
  }
}
