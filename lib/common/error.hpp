#pragma once
// Errors and exit codes shared by every tool, two kinds of failure:
//   InputError (exit code 2): the user's input is wrong (a flag, a config key, a missing or
//     malformed file); the message names the file, line or key.
//   RuntimeError (exit code 1): the input was fine but the run could not finish (disk full, a rank failed).
#include <stdexcept>
#include <string>

namespace cxr {

// kExitRequeue: cxr-train stopped on SIGUSR1/SIGTERM after writing a checkpoint; the batch
// script requeues the job and the next run resumes (75 = EX_TEMPFAIL, "try again later").
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitRequeue = 75 };

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An error every rank of an MPI job raises together (the ranks agreed on it, or every rank
// computed the same verdict), so the job can end cleanly with `exit_code` instead of MPI_Abort.
// Only rank 0 prints it, unless `reported` says that has been done (dist::World::agree).
struct CollectiveError : std::runtime_error {
  CollectiveError(const std::string& message, int code, bool already_reported = false)
      : std::runtime_error(message), exit_code(code), reported(already_reported) {}
  int exit_code;
  bool reported;
};

// "path:line: message", the form compilers use, so editors can jump to it.
inline std::string at_line(const std::string& path, long line, const std::string& message) {
  return path + ":" + std::to_string(line) + ": " + message;
}

}  // namespace cxr
