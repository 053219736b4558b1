#include <doctest/doctest.h>

#include <cmath>

#include "random/keyed.hpp"

using namespace cxr::rng;

TEST_SUITE("random") {
  TEST_CASE("a draw depends only on its key, not on earlier draws") {
    KeyedStream a(7, Purpose::Noise, 12, 3);
    KeyedStream b(7, Purpose::Noise, 12, 3);
    for (int i = 0; i < 100; ++i) b.uniform();  // b's key is the same; its history must not matter...
    KeyedStream c(7, Purpose::Noise, 12, 3);
    CHECK(a.next_u64() == c.next_u64());        // ...so fresh streams with one key agree
    CHECK(KeyedStream(7, Purpose::Noise, 12, 3).next_u64() != KeyedStream(7, Purpose::Noise, 12, 4).next_u64());
    CHECK(KeyedStream(7, Purpose::Noise, 12, 3).next_u64() != KeyedStream(7, Purpose::Shuffle, 12, 3).next_u64());
    CHECK(KeyedStream(7, Purpose::Noise, 12, 3).next_u64() != KeyedStream(8, Purpose::Noise, 12, 3).next_u64());
  }

  TEST_CASE("uniform and normal draws have the right moments") {
    KeyedStream s(1, Purpose::Noise, 0, 0);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; ++i) {
      const double u = s.uniform();
      REQUIRE(u >= 0.0);
      REQUIRE(u < 1.0);
      su += u;
      const double z = s.normal();
      sn += z;
      sn2 += z * z;
    }
    CHECK(su / n == doctest::Approx(0.5).epsilon(0.01));
    CHECK(std::fabs(sn / n) < 0.01);
    CHECK(sn2 / n == doctest::Approx(1.0).epsilon(0.02));
  }
}
