#pragma once
// Whole-string number parsing shared by the config, CSV and report readers: the text must be a
// number and nothing else ("12abc" is not 12). No exceptions; callers word their own errors.
#include <optional>
#include <string>

namespace cxr {

std::optional<double> parse_double(const std::string& text);
std::optional<long long> parse_integer(const std::string& text);

}  // namespace cxr
