#pragma once
// Small helpers shared by the unit tests: a scratch directory and file writers.
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace cxr::test {

// A fresh directory under the system temp dir, removed when the object goes away.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() / ("cxr-unit-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    const auto p = path / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
};

// The message of the exception `expr` throws, or "" when it throws none.
#define CXR_ERROR_OF(expr)                  \
  [&]() -> std::string {                    \
    try {                                   \
      expr;                                 \
    } catch (const std::exception& e) {     \
      return e.what();                      \
    }                                       \
    return "";                              \
  }()

}  // namespace cxr::test
