#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "image/image.hpp"

using namespace cxr;

namespace {
image::Gray8 pattern(int w, int h) {  // the same formula as tests/data/make_resize_golden.py
  image::Gray8 g;
  g.width = w;
  g.height = h;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) g.pixels.push_back(static_cast<std::uint8_t>((x * 37 + y * 91 + (x * y) % 13 * 11) % 256));
  return g;
}
}  // namespace

TEST_SUITE("resize") {
  TEST_CASE("matches Pillow's antialiased BICUBIC exactly") {
    std::ifstream in(CXR_TEST_DATA_DIR "/resize_golden.txt");
    REQUIRE_MESSAGE(in.good(), "missing " CXR_TEST_DATA_DIR "/resize_golden.txt");
    std::string line;
    std::getline(in, line);  // comment
    int cases = 0;
    while (std::getline(in, line)) {
      int w, h, ow, oh;
      std::istringstream(line) >> w >> h >> ow >> oh;
      std::getline(in, line);
      std::istringstream values(line);
      const image::Gray8 out = image::resize_bicubic(pattern(w, h), ow, oh);
      REQUIRE(out.pixels.size() == static_cast<std::size_t>(ow * oh));
      int worst = 0;
      for (std::size_t i = 0; i < out.pixels.size(); ++i) {
        int expected = 0;
        values >> expected;
        worst = std::max(worst, std::abs(expected - out.pixels[i]));
      }
      CAPTURE(w);
      CAPTURE(h);
      CAPTURE(ow);
      CAPTURE(oh);
      CHECK(worst == 0);
      ++cases;
    }
    CHECK(cases == 6);
  }

  TEST_CASE("a constant image stays constant; same size is the identity") {
    image::Gray8 g;
    g.width = 100;
    g.height = 60;
    g.pixels.assign(6000, 173);
    const auto small = image::resize_bicubic(g, 32, 32);
    for (auto v : small.pixels) CHECK(v == 173);
    const auto p = pattern(20, 20);
    CHECK(image::resize_bicubic(p, 20, 20).pixels == p.pixels);
  }

  TEST_CASE("shrinking averages fine detail away instead of aliasing it") {
    // A one-pixel checkerboard of 0 and 255 shrunk 8x must come out near mid-grey everywhere;
    // point sampling would give pure 0 or 255.
    image::Gray8 g;
    g.width = g.height = 256;
    for (int y = 0; y < 256; ++y)
      for (int x = 0; x < 256; ++x) g.pixels.push_back((x + y) % 2 ? 255 : 0);
    const auto small = image::resize_bicubic(g, 32, 32);
    for (auto v : small.pixels) CHECK(std::abs(static_cast<int>(v) - 128) <= 2);
  }
}
