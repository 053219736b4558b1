#include "common/error.hpp"

namespace cxr {

std::string at_line(const std::string& path, long line, const std::string& message) {
  return path + ":" + std::to_string(line) + ": " + message;
}

}  // namespace cxr
