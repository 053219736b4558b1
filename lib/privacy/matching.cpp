#include "privacy/matching.hpp"

#include <algorithm>

namespace cxr::privacy {

torch::Tensor descriptors(const torch::Tensor& images) {
  const auto b = images.size(0);
  const torch::Tensor small = torch::adaptive_avg_pool2d(images.to(torch::kFloat), {kMatchSide, kMatchSide}).reshape({b, -1});
  // Mid-ranks: pixels with equal values (the flat air around the body) share one rank, so the
  // equalised image does not depend on how a sort breaks ties.
  const torch::Tensor sorted = std::get<0>(small.sort(1));
  const torch::Tensor below = torch::searchsorted(sorted, small, /*out_int32=*/false, /*right=*/false);
  const torch::Tensor up_to = torch::searchsorted(sorted, small, /*out_int32=*/false, /*right=*/true);
  torch::Tensor d = (below + up_to - 1).to(torch::kFloat) / 2;
  d = d - d.mean(1, true);
  return d / d.norm(2, 1, true).clamp_min(1e-12);
}

std::vector<Match> match(const Gallery& gallery, const torch::Tensor& query_descriptors, const std::vector<std::int64_t>& own) {
  const torch::Tensor similarity = torch::mm(query_descriptors, gallery.descriptors.t()).contiguous();  // [Q, G]
  const auto g = similarity.size(1);
  const auto s = similarity.accessor<float, 2>();
  std::vector<Match> out(own.size());
  for (std::size_t q = 0; q < own.size(); ++q) {
    const auto me = own[q];
    const auto patient = gallery.patients[static_cast<std::size_t>(me)];
    const auto qi = static_cast<std::int64_t>(q);
    float best_followup = -2;  // NCC is >= -1
    for (std::int64_t j = 0; j < g; ++j) {
      if (j == me) continue;
      if (s[qi][j] >= s[qi][me]) ++out[q].own_rank;
      if (gallery.patients[static_cast<std::size_t>(j)] == patient) {
        ++out[q].followup_same;
        best_followup = std::max(best_followup, s[qi][j]);
      }
    }
    ++out[q].own_rank;
    if (out[q].followup_same == 0) continue;
    for (std::int64_t j = 0; j < g; ++j)
      if (j != me && gallery.patients[static_cast<std::size_t>(j)] != patient && s[qi][j] >= best_followup) ++out[q].followup_rank;
    ++out[q].followup_rank;
  }
  return out;
}

}  // namespace cxr::privacy
