#include "nih/split.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_set>

#include "common/error.hpp"
#include "random/keyed.hpp"

namespace cxr::nih {
namespace {

// Sorts `items` by a keyed hash, ties broken by the item itself: a seeded shuffle that does not
// depend on the input order.
template <typename T, typename KeyFn>
void keyed_shuffle(std::vector<T>& items, KeyFn key) {
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    const auto ka = key(a), kb = key(b);
    return ka != kb ? ka < kb : a < b;
  });
}

}  // namespace

const char* split_name(Split s) {
  static const char* const names[] = {"train", "val", "test"};
  return names[static_cast<int>(s)];
}

SplitAssignment assign_splits(const Metadata& meta, const std::vector<std::string>& train_val,
                              const std::vector<std::string>& test, const SplitOptions& options) {
  SplitAssignment out;
  auto& train_out = out.images[static_cast<int>(Split::Train)];
  auto& val_out = out.images[static_cast<int>(Split::Val)];
  auto& test_out = out.images[static_cast<int>(Split::Test)];

  const std::unordered_set<std::string> test_set(test.begin(), test.end());
  for (const auto& name : train_val)
    if (test_set.count(name))
      throw InputError("image '" + name + "' is in both the train_val list and the test list");

  // Keep only images the metadata knows; the rest are reported, not fatal.
  auto known = [&](const std::vector<std::string>& names) {
    std::vector<std::string> kept;
    for (const auto& n : names) {
      if (meta.find(n)) kept.push_back(n);
      else out.skipped.push_back({n, "not in " + meta.path});
    }
    return kept;
  };
  std::vector<std::string> tv = known(train_val);
  std::vector<std::string> te = known(test);

  if (options.mode == "image") {
    out.warnings.push_back(
        "split.mode=image assigns images at random, so follow-up images of one patient land in different "
        "splits (patient leakage, as in the reference study). Use it only to reproduce that study.");
    std::vector<std::string> all = tv;
    all.insert(all.end(), te.begin(), te.end());
    keyed_shuffle(all, [&](const std::string& n) { return rng::hash_key(options.seed, rng::Purpose::ImageSplit, rng::image_id(n)); });
    const auto n = all.size();
    const auto n_train = static_cast<std::size_t>(std::llround(options.image_train_fraction * static_cast<double>(n)));
    const auto n_val = std::min(n - n_train, static_cast<std::size_t>(std::llround(options.image_val_fraction * static_cast<double>(n))));
    train_out.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_train));
    val_out.assign(all.begin() + static_cast<std::ptrdiff_t>(n_train), all.begin() + static_cast<std::ptrdiff_t>(n_train + n_val));
    test_out.assign(all.begin() + static_cast<std::ptrdiff_t>(n_train + n_val), all.end());
  } else {
    test_out = te;
    std::unordered_set<std::int64_t> test_patients;
    for (const auto& n : te) test_patients.insert(meta.find(n)->patient_id);

    // A patient with images in the test list keeps none in training: leakage otherwise.
    std::map<std::int64_t, std::vector<std::string>> by_patient;
    for (const auto& n : tv) {
      const auto pid = meta.find(n)->patient_id;
      if (test_patients.count(pid))
        out.skipped.push_back({n, "patient " + std::to_string(pid) + " also has images in the test list"});
      else
        by_patient[pid].push_back(n);
    }
    std::vector<std::int64_t> patients;
    for (const auto& [pid, names] : by_patient) patients.push_back(pid);
    keyed_shuffle(patients, [&](std::int64_t pid) {
      return rng::hash_key(options.seed, rng::Purpose::ValidationSplit, static_cast<std::uint64_t>(pid));
    });
    const auto n_val = static_cast<std::size_t>(std::llround(options.val_fraction * static_cast<double>(patients.size())));
    for (std::size_t i = 0; i < patients.size(); ++i) {
      auto& dst = i < n_val ? val_out : train_out;
      const auto& names = by_patient[patients[i]];
      dst.insert(dst.end(), names.begin(), names.end());
    }
  }
  for (auto& v : out.images) std::sort(v.begin(), v.end());
  return out;
}

}  // namespace cxr::nih
