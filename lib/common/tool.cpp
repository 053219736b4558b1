#include "common/tool.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "common/error.hpp"
#include "cxr/version.hpp"

namespace cxr {

void setup_logging(const std::string& tool, int rank, int size) {
  auto logger = spdlog::stderr_color_mt("cxr");
  const std::string tag = size > 1 ? tool + " rank " + std::to_string(rank) + "/" + std::to_string(size) : tool;
  logger->set_pattern("[%H:%M:%S] [" + tag + "] %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
}

std::string version_string() {
#ifdef CXR_TORCH_VERSION
  return std::string("cxr-denoise ") + kVersion + " (LibTorch " CXR_TORCH_VERSION ")";
#else
  return std::string("cxr-denoise ") + kVersion;
#endif
}

int run_tool(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return dynamic_cast<const InputError*>(&e) ? kExitUsage : kExitFailure;
  }
}

void add_version_flag(CLI::App& app) { app.set_version_flag("--version", version_string()); }

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, bool print, std::string* error) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (print) std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    if (print) std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    if (print) std::cout << version_string() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    const std::string message = app.get_name() + ": " + e.what() + "\nRun with --help for usage.";
    if (error) *error = message;
    else if (print) std::cerr << message << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace cxr
