#pragma once
// The scaling sections of a summary. Runs that differ only in rank count form a family, weak
// (same batch per rank) or strong (same global batch), measured against its fewest ranks from
// median step times. Given cxr-bench allreduce results (cxr-reduce --allreduce), the scaling
// model (lib/scaling) is fitted to the family's fewest-ranks run and the network, and its
// prediction stands next to each measured point, with a projection to 1,024 ranks.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/reduce.hpp"

namespace cxr::report {

// summary["scaling"]: one entry per measured point; summary["scaling_model"]: one per family
// with the model's inputs and projection (empty without allreduce results).
void add_scaling(const std::vector<Run>& runs, const std::vector<nlohmann::json>& allreduce, nlohmann::json& summary);
std::string scaling_markdown(const nlohmann::json& summary);

}  // namespace cxr::report
