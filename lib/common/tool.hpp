#pragma once
// What every tool's main() shares: logging set-up and command-line parsing with the project's
// exit codes (0 success, 2 usage or input error, 1 runtime failure).
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace cxr {

// Log lines go to stderr as "[time] [tool] level: message"; with several ranks the tag reads
// "tool rank R/N" so batch logs that interleave ranks stay readable.
void setup_logging(const std::string& tool, int rank = 0, int size = 1);

// Adds --version (printing the project and LibTorch versions) to `app`.
void add_version_flag(CLI::App& app);

// Parses the command line. Returns an exit code when the tool should stop now (--help,
// --version: 0; a bad flag: 2), nothing otherwise. Help and version are printed when `print` is
// set; a bad flag's message too, unless `error` is given: then it is stored there instead (MPI
// tools agree on it first: dist::parse_command_line).
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, bool print = true, std::string* error = nullptr);

// "cxr-denoise X.Y.Z (LibTorch A.B.C)".
std::string version_string();

// Runs a single-process tool's body and maps errors to exit codes: InputError -> 2, any other
// exception -> 1, each logged once. (MPI tools use dist::run_mpi_tool.)
int run_tool(const std::function<int()>& body);

}  // namespace cxr
