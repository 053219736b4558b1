#include <doctest/doctest.h>

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>

#include "common/error.hpp"
#include "nih/split.hpp"

using namespace cxr;

namespace {
// 60 patients with 1..4 images each; the last 12 patients form the test list.
struct Fixture {
  nih::Metadata meta;
  std::vector<std::string> train_val, test;
  Fixture() {
    meta.path = "meta.csv";
    for (int p = 1; p <= 60; ++p) {
      for (int k = 0; k < 1 + p % 4; ++k) {
        nih::Record r;
        r.image = fmt::format("{:08d}_{:03d}.png", p, k);
        r.patient_id = p;
        meta.by_image[r.image] = meta.records.size();
        meta.records.push_back(r);
        (p > 48 ? test : train_val).push_back(r.image);
      }
    }
  }
};

std::map<std::string, std::int64_t> patient_of(const nih::Metadata& m) {
  std::map<std::string, std::int64_t> out;
  for (const auto& r : m.records) out[r.image] = r.patient_id;
  return out;
}
}  // namespace

TEST_SUITE("split") {
  TEST_CASE("patient mode: the test list is honoured and no patient is in two splits") {
    Fixture f;
    const auto a = nih::assign_splits(f.meta, f.train_val, f.test, {});
    CHECK(a[nih::Split::Test] == [&] { auto t = f.test; std::sort(t.begin(), t.end()); return t; }());
    const auto pid = patient_of(f.meta);
    std::map<std::int64_t, std::set<int>> splits_of_patient;
    std::size_t total = 0;
    for (auto s : nih::kSplits)
      for (const auto& n : a[s]) {
        splits_of_patient[pid.at(n)].insert(static_cast<int>(s));
        ++total;
      }
    CHECK(total == f.meta.records.size());
    for (const auto& [p, s] : splits_of_patient) CHECK_MESSAGE(s.size() == 1, "patient ", p, " is in several splits");
    // 10 % of the 48 train_val patients (rounded) are validation patients.
    std::set<std::int64_t> val_patients;
    for (const auto& n : a[nih::Split::Val]) val_patients.insert(pid.at(n));
    CHECK(val_patients.size() == 5);
    CHECK(a.skipped.empty());
  }

  TEST_CASE("the split depends on the seed, not on the order of the lists") {
    Fixture f;
    nih::SplitOptions o;
    o.seed = 3;
    const auto a = nih::assign_splits(f.meta, f.train_val, f.test, o);
    auto shuffled = f.train_val;
    std::reverse(shuffled.begin(), shuffled.end());
    const auto b = nih::assign_splits(f.meta, shuffled, f.test, o);
    CHECK(a.images == b.images);
    o.seed = 4;
    const auto c = nih::assign_splits(f.meta, f.train_val, f.test, o);
    CHECK(a[nih::Split::Val] != c[nih::Split::Val]);
  }

  TEST_CASE("a train_val image of a test patient is dropped with a reason; unknown names too") {
    Fixture f;
    nih::Record r;
    r.image = "00000049_009.png";  // patient 49 is a test patient
    r.patient_id = 49;
    f.meta.by_image[r.image] = f.meta.records.size();
    f.meta.records.push_back(r);
    f.train_val.push_back(r.image);
    f.train_val.push_back("99999999_000.png");
    const auto a = nih::assign_splits(f.meta, f.train_val, f.test, {});
    REQUIRE(a.skipped.size() == 2);
    CHECK(a.skipped[0].image == "99999999_000.png");
    CHECK(a.skipped[0].reason == "not in meta.csv");
    CHECK(a.skipped[1].reason == "patient 49 also has images in the test list");
  }

  TEST_CASE("an image in both lists is an input error") {
    Fixture f;
    f.train_val.push_back(f.test.front());
    CHECK_THROWS_AS(nih::assign_splits(f.meta, f.train_val, f.test, {}), InputError);
  }

  TEST_CASE("image mode reproduces the reference's 50/33/17 split and warns") {
    Fixture f;
    nih::SplitOptions o;
    o.mode = "image";
    const auto a = nih::assign_splits(f.meta, f.train_val, f.test, o);
    const std::size_t n = f.meta.records.size();
    CHECK(a[nih::Split::Train].size() == static_cast<std::size_t>(std::llround(0.5 * static_cast<double>(n))));
    CHECK(a[nih::Split::Val].size() == static_cast<std::size_t>(std::llround(0.33 * static_cast<double>(n))));
    CHECK(a[nih::Split::Train].size() + a[nih::Split::Val].size() + a[nih::Split::Test].size() == n);
    REQUIRE(a.warnings.size() == 1);
    CHECK(a.warnings[0].find("leakage") != std::string::npos);
  }
}
