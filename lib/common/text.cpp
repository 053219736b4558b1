#include "common/text.hpp"

#include <stdexcept>

namespace cxr {

std::optional<double> parse_double(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t pos = 0;
  try {
    const double v = std::stod(text, &pos);
    if (pos == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<long long> parse_integer(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t pos = 0;
  try {
    const long long v = std::stoll(text, &pos, 10);
    if (pos == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace cxr
