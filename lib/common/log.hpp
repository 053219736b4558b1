#pragma once
// Log lines for code that must not include spdlog: the translation units built on LibTorch.
// LibTorch 2.x ships its own, newer fmt headers, which Debian's spdlog cannot be compiled
// against; these functions keep spdlog inside libcxr. Format the message with fmt::format.
#include <string>

namespace cxr::log {

void info(const std::string& message);
void warn(const std::string& message);
void error(const std::string& message);

}  // namespace cxr::log
