#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "common/error.hpp"
#include "shards/manifest.hpp"
#include "shards/shard.hpp"

using namespace cxr;

namespace {
shards::Sample sample(int i) {
  return {"0000000" + std::to_string(i) + "_000.png", 1000 + i, static_cast<std::uint16_t>(i * 3), i % 2 ? "AP" : "PA",
          i % 3 ? "M" : "F", 20 + i, i};
}
}  // namespace

TEST_SUITE("shards") {
  TEST_CASE("write then read back: images, records, skipped list and attributes") {
    test::ScratchDir dir("shards");
    const std::string path = (dir.path / "s.h5").string();
    const int size = 16;
    {
      shards::ShardWriter w(path, {"val", size, 5, 1, "digest-1"});
      for (int i = 0; i < 3; ++i) {
        std::vector<std::uint8_t> img(size * size);
        for (std::size_t p = 0; p < img.size(); ++p) img[p] = static_cast<std::uint8_t>(p * (i + 1));
        w.append(img.data(), sample(i));
      }
      w.add_skipped("broken.png", "cannot decode: truncated");
      w.close();
    }
    shards::ShardReader r(path);
    const auto& info = r.info();
    CHECK(info.count == 3);  // capacity 5, shrunk to what was written
    CHECK(info.split == "val");
    CHECK(info.image_size == size);
    CHECK(info.plan_digest == "digest-1");
    CHECK(info.format_version == shards::kFormatVersion);
    REQUIRE(info.samples.size() == 3);
    for (int i = 0; i < 3; ++i) {
      const auto& s = info.samples[static_cast<std::size_t>(i)];
      CHECK(s.image == sample(i).image);
      CHECK(s.patient_id == 1000 + i);
      CHECK(s.labels == i * 3);
      CHECK(s.view == sample(i).view);
      CHECK(s.sex == sample(i).sex);
      CHECK(s.age == 20 + i);
      CHECK(s.follow_up == i);
      std::vector<std::uint8_t> img(size * size);
      r.read_image(static_cast<std::size_t>(i), img.data());
      for (std::size_t p = 0; p < img.size(); ++p) REQUIRE(img[p] == static_cast<std::uint8_t>(p * (i + 1)));
    }
    CHECK(info.skipped_image == std::vector<std::string>{"broken.png"});
    CHECK(info.skipped_reason == std::vector<std::string>{"cannot decode: truncated"});
    CHECK(shards::shard_is_complete(path, "digest-1"));
    CHECK_FALSE(shards::shard_is_complete(path, "digest-2"));
    CHECK_THROWS_AS(r.read_image(3, nullptr), std::out_of_range);
  }

  TEST_CASE("the same content gives byte-identical files") {
    test::ScratchDir dir("shards");
    auto write = [&](const std::string& name) {
      const std::string path = (dir.path / name).string();
      shards::ShardWriter w(path, {"train", 8, 2, 1, "d"});
      std::vector<std::uint8_t> img(64, 7);
      w.append(img.data(), sample(1));
      w.append(img.data(), sample(2));
      w.close();
      std::ifstream in(path, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    CHECK(write("a.h5") == write("b.h5"));
  }

  TEST_CASE("an empty shard (every image skipped) is still valid") {
    test::ScratchDir dir("shards");
    const std::string path = (dir.path / "e.h5").string();
    shards::ShardWriter w(path, {"test", 8, 2, 0, "d"});
    w.add_skipped("a.png", "zero bytes");
    w.close();
    shards::ShardReader r(path);
    CHECK(r.info().count == 0);
    CHECK(r.info().skipped_image.size() == 1);
  }

  TEST_CASE("truncated or foreign files are not complete shards") {
    test::ScratchDir dir("shards");
    const std::string path = (dir.path / "t.h5").string();
    {
      shards::ShardWriter w(path, {"train", 8, 1, 1, "d"});
      std::vector<std::uint8_t> img(64, 1);
      w.append(img.data(), sample(0));
      w.close();
    }
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size / 2);
    CHECK_FALSE(shards::shard_is_complete(path, "d"));
    CHECK(CXR_ERROR_OF(shards::ShardReader reader(path)).find(path) != std::string::npos);
    CHECK_FALSE(shards::shard_is_complete(dir.file("x.h5", "not hdf5"), "d"));
    CHECK_FALSE(shards::shard_is_complete((dir.path / "missing.h5").string(), "d"));
  }

  TEST_CASE("manifest.json: written then read back the same; missing, broken and incomplete ones named") {
    test::ScratchDir dir("manifest");
    shards::Manifest m;
    m.plan_digest = "abc123";
    m.splits["train"] = {3, 2, {{"train/shard-00000.h5", "train", "d0", "s0", 0, 2, 2, 1234}, {"train/shard-00001.h5", "train", "d1", "s1", 1, 1, 2, 99}}};
    m.splits["test"] = {1, 1, {{"test/shard-00000.h5", "test", "d2", "s2", 0, 1, 1, 77}}};
    m.details = {{"format_version", 1}, {"totals", {{"written", 4}}}};
    shards::write_manifest(dir.path.string(), m);
    const shards::Manifest back = shards::read_manifest(dir.path.string());
    CHECK(back.plan_digest == "abc123");
    CHECK(back.details == m.details);
    REQUIRE(back.splits.size() == 2);
    CHECK(back.splits.at("train").images == 3);
    CHECK(back.splits.at("train").patients == 2);
    REQUIRE(back.splits.at("train").shards.size() == 2);
    const auto& sh = back.splits.at("train").shards[1];
    CHECK(sh.file == "train/shard-00001.h5");
    CHECK(sh.digest == "d1");
    CHECK(sh.sha256 == "s1");
    CHECK(sh.index == 1);
    CHECK(sh.count == 1);
    CHECK(sh.planned == 2);
    CHECK(sh.bytes == 99);
    CHECK(back.splits.at("test").shards[0].split == "test");

    CHECK(CXR_ERROR_OF(shards::read_manifest((dir.path / "nowhere").string())).find("no dataset at") != std::string::npos);
    dir.file("manifest.json", "{\"plan_digest\": \"x\"");
    CHECK(CXR_ERROR_OF(shards::read_manifest(dir.path.string())).find("manifest.json: not a valid manifest") != std::string::npos);
    dir.file("manifest.json", "{\"plan_digest\": \"x\", \"splits\": {\"train\": {\"images\": 1}}}");
    CHECK_THROWS_AS(shards::read_manifest(dir.path.string()), InputError);
  }
}
