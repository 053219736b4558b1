#pragma once
// Assigning images to train / val / test.
//
// Patient mode (default): test is the official test list; validation is carved out of
// train_val by patient, so no patient has images in two splits. Image mode reproduces the
// reference study's random per-image split (leaky: follow-ups of one patient land in different
// splits) and exists only to reproduce its numbers.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nih/metadata.hpp"

namespace cxr::nih {

enum class Split : int { Train = 0, Val = 1, Test = 2 };
inline constexpr std::array<Split, 3> kSplits = {Split::Train, Split::Val, Split::Test};
const char* split_name(Split s);  // "train", "val", "test"

struct SplitOptions {
  std::string mode = "patient";         // "patient" or "image"
  double val_fraction = 0.1;            // patient mode: share of train_val patients for validation
  double image_train_fraction = 0.50;   // image mode: the reference's 50 / 33 / 17 %
  double image_val_fraction = 0.33;
  std::uint64_t seed = 0;
};

struct SkippedImage {
  std::string image;
  std::string reason;
};

struct SplitAssignment {
  std::array<std::vector<std::string>, 3> images;  // indexed by Split, each sorted by name
  std::vector<SkippedImage> skipped;               // listed but not assignable, with why
  std::vector<std::string> warnings;
  const std::vector<std::string>& operator[](Split s) const { return images[static_cast<int>(s)]; }
};

// Deterministic for (lists, metadata, options); independent of list order.
// Throws InputError if an image is in both lists.
SplitAssignment assign_splits(const Metadata& meta, const std::vector<std::string>& train_val,
                              const std::vector<std::string>& test, const SplitOptions& options);

}  // namespace cxr::nih
