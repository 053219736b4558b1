#pragma once
// The MPI world of one job: rank, size, local rank on the node, the few collectives the tools
// need on host data, and the two error paths. Constructed once in main(); MPI_Finalize runs
// when it goes away.
//
// Errors are decided where they are raised (docs/ARCHITECTURE.md, "Errors"):
//   - work every rank does on its own runs inside all_or_none(): the ranks then agree whether it
//     worked everywhere and end cleanly with one exit code (agree());
//   - anything else that throws on a multi-rank job is local: run_mpi_tool prints it with the
//     rank and host and calls MPI_Abort, because peers may already wait for it in a collective;
//   - every collective is bounded by dist.timeout_s (the Watchdog).
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "dist/watchdog.hpp"

namespace CLI {
class App;
}

namespace cxr::dist {

// How a piece of work went wrong on one rank.
struct Failure {
  std::string message;
  int exit_code;
};
// The Failure a caught exception stands for: InputError -> 2, anything else -> 1.
Failure failure_of(std::exception_ptr error);

// Runs `fn`: the Failure it threw, or nothing.
template <class Fn>
std::optional<Failure> failure_in(Fn&& fn) {
  try {
    fn();
    return std::nullopt;
  } catch (...) {
    return failure_of(std::current_exception());
  }
}

class World {
 public:
  // Initialises MPI and checks that MPI sees as many ranks as the launcher started (an Open MPI
  // built without the launcher's PMI starts N singletons that each think they are alone).
  World(int* argc, char*** argv);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm comm() const { return MPI_COMM_WORLD; }

  // dist.timeout_s: the longest any collective may wait (default 600 s until a tool sets it).
  Watchdog& watchdog() const { return *watchdog_; }
  void set_timeout(double seconds) { watchdog_->set_timeout(seconds); }

  // Collective helpers: every rank must call them, in the same order. `what` names the wait in
  // a timeout message.
  void barrier(const std::string& what = "a barrier") const;
  bool all_true(bool value, const std::string& what = "agreeing on a flag") const;  // logical AND over ranks
  double max(double value) const;
  std::string broadcast(const std::string& text, int root = 0) const;
  std::vector<std::string> gather(const std::string& text, int root = 0) const;  // filled on root
  std::vector<std::string> node_all_gather(const std::string& text) const;      // the ranks of this node, by local rank

  // Collective: each rank says whether its own work failed. When none did, returns. Otherwise
  // rank 0 prints every failing rank's message with its rank and host (a message every rank
  // shares, once), and every rank throws the same, already reported, CollectiveError carrying
  // the exit code of the lowest failing rank.
  void agree(const std::optional<Failure>& mine) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
  MPI_Comm node_ = MPI_COMM_NULL;  // the ranks sharing this node's memory
  std::string host_;
  std::unique_ptr<Watchdog> watchdog_;
};

// Runs `fn` on every rank and agrees on the outcome (World::agree): returns fn's result when it
// worked on all ranks; throws the same CollectiveError on all ranks otherwise. `fn` must not
// call collectives itself: a rank that throws half-way would leave the others waiting in them.
template <class Fn>
auto all_or_none(const World& world, Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  if constexpr (std::is_void_v<Result>) {
    world.agree(failure_in(fn));
  } else {
    std::optional<Result> result;
    world.agree(failure_in([&] { result.emplace(fn()); }));
    return std::move(*result);
  }
}

// Parses an MPI tool's command line on every rank and agrees on it: --help and --version print
// on rank 0 and return 0; a bad flag, or a file that a check cannot find on some rank (a node
// that cannot see the --config path), ends every rank with 2 and that rank's message, printed by
// rank 0. Returns nothing when the tool should go on.
std::optional<int> parse_command_line(const World& world, CLI::App& app, int argc, char** argv);

// Wraps a tool's main: builds the World, sets up logging, runs `body`, and maps errors to exit
// codes. A CollectiveError (raised on every rank) ends the job cleanly; any other exception on a
// multi-rank job is a local failure: logged with the rank, then MPI_Abort, so no rank hangs.
int run_mpi_tool(const std::string& tool, int argc, char** argv, const std::function<int(World&)>& body);

}  // namespace cxr::dist
