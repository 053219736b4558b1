#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <tuple>

#include "report/stats.hpp"

using namespace cxr::report;

TEST_SUITE("stats") {
  TEST_CASE("summary: mean, sample SD, 95 % CI half-width, by hand") {
    const Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
    CHECK(s.n == 8);
    CHECK(s.mean == doctest::Approx(5.0));
    CHECK(s.sd == doctest::Approx(std::sqrt(32.0 / 7.0)));  // sum of squares 32, n - 1 = 7
    CHECK(s.ci95 == doctest::Approx(1.96 * std::sqrt(32.0 / 7.0) / std::sqrt(8.0)));
    CHECK(summarize({}).n == 0);
    CHECK(summarize({3}).sd == 0);
  }

  TEST_CASE("paired t-test and Wilcoxon on differences 1..5, by hand") {
    // d = 1..5: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426, df 4, p = 0.013236.
    // Wilcoxon: W+ = 15, E = 7.5, Var = 5*6*11/24 = 13.75, z = 2.0226, p = 0.043115.
    const Paired p = compare_paired({11, 12, 13, 14, 15}, {10, 10, 10, 10, 10});
    CHECK(p.n == 5);
    CHECK(p.mean_diff == doctest::Approx(3.0));
    CHECK(p.t == doctest::Approx(4.242641).epsilon(1e-6));
    CHECK(p.t_p == doctest::Approx(0.013236).epsilon(1e-4));
    CHECK(p.cohens_dz == doctest::Approx(3.0 / std::sqrt(2.5)));
    CHECK(p.wilcoxon_z == doctest::Approx(7.5 / std::sqrt(13.75)));
    CHECK(p.wilcoxon_p == doctest::Approx(0.043115).epsilon(1e-4));
    CHECK(p.wilcoxon_r == doctest::Approx(7.5 / std::sqrt(13.75) / std::sqrt(5.0)));
  }

  TEST_CASE("Wilcoxon: zero differences dropped, ties averaged; symmetric differences give z = 0") {
    const Paired p = compare_paired({1, 2, 3, 4, 5}, {1, 3, 2, 5, 4});  // d = 0, -1, 1, -1, 1
    CHECK(p.mean_diff == doctest::Approx(0.0));
    CHECK(p.wilcoxon_z == doctest::Approx(0.0));
    CHECK(p.wilcoxon_p == doctest::Approx(1.0));
    CHECK(p.t_p == doctest::Approx(1.0));
    CHECK_THROWS_AS(compare_paired({1, 2}, {1}), std::invalid_argument);
  }

  TEST_CASE("Wilson interval and chance of a top-k hit, by hand") {
    // 5 of 10: the textbook interval 0.2366-0.7634.
    auto [lo, hi] = wilson_interval(0.5, 10);
    CHECK(lo == doctest::Approx(0.2366).epsilon(1e-3));
    CHECK(hi == doctest::Approx(0.7634).epsilon(1e-3));
    // All hits on 14 units: not [1, 1] but (1 + z^2/2n - z sqrt(z^2/4n^2)) / (1 + z^2/n) = 0.7847.
    std::tie(lo, hi) = wilson_interval(1.0, 14);
    CHECK(lo == doctest::Approx(0.7847).epsilon(1e-3));
    CHECK(hi == 1.0);
    CHECK(wilson_interval(0.0, 14).first == 0.0);
    CHECK(chance_top_k(45, 1, 1) == doctest::Approx(1.0 / 45));
    CHECK(chance_top_k(45, 1, 5) == doctest::Approx(5.0 / 45));
    CHECK(chance_top_k(10, 3, 1) == doctest::Approx(0.3));
    CHECK(chance_top_k(10, 3, 2) == doctest::Approx(1 - 21.0 / 45));  // 1 - C(7,2)/C(10,2)
    CHECK(chance_top_k(4, 3, 2) == doctest::Approx(1.0));             // two draws cannot both miss
    CHECK(chance_top_k(3, 1, 5) == doctest::Approx(1.0));             // k beyond the gallery
  }
}
