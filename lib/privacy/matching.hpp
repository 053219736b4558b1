#pragma once
// Re-identification by matching: the attack the privacy report measures (docs/PRIVACY.md). A
// query image (clean, obfuscated or denoised) is compared with a gallery of clean images by the
// normalised cross-correlation (NCC) of small histogram-equalised copies; the higher the query's
// own original, or another study of its patient, ranks, the less the obfuscation hides. A plain
// matcher, so the rates it gives are a lower bound on what a determined attacker achieves.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace cxr::privacy {

constexpr int kMatchSide = 32;  // descriptors are 32 x 32: anatomy, not pixel noise

// [B, 1, H, W] in [0, 1] -> [B, 32 * 32]: area-downsampled to 32 x 32, histogram-equalised (each
// pixel replaced by its mid-rank, so exposure, the noise's mean and any monotonic change of grey
// levels drop out), centred and scaled to unit length: the dot product of two is their NCC.
torch::Tensor descriptors(const torch::Tensor& images);

struct Gallery {
  torch::Tensor descriptors;           // [G, 32 * 32], of clean images
  std::vector<std::int64_t> patients;  // each gallery image's patient
};

struct Match {
  // (a) Against the whole gallery, which holds the query's own original: 1 + the number of other
  // gallery images at least as similar as the original (ties count against the attacker).
  std::int64_t own_rank = 0;
  // (b) Against the gallery without the original: 1 + the number of other patients' images at
  // least as similar as the best of the patient's other studies; 0 when it has none.
  std::int64_t followup_rank = 0;
  std::int64_t followup_same = 0;  // how many other studies of the query's patient the gallery holds
};

// `own`: each query's index in the gallery (the original it was made from).
std::vector<Match> match(const Gallery& gallery, const torch::Tensor& query_descriptors, const std::vector<std::int64_t>& own);

}  // namespace cxr::privacy
