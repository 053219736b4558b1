#pragma once
// The MPI world of one job: rank, size, local rank on the node, and the few collectives the
// tools need on host data. Constructed once in main(); MPI_Finalize runs when it goes away.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cxr::dist {

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

  // Collective helpers: every rank must call them, in the same order.
  void barrier() const;
  bool all_true(bool value) const;               // logical AND over ranks
  std::int64_t sum(std::int64_t value) const;
  double max(double value) const;
  std::string broadcast(const std::string& text, int root = 0) const;
  std::vector<std::string> gather(const std::string& text, int root = 0) const;  // filled on root

  // Local error path: print with rank and host, then end the whole job.
  [[noreturn]] void abort(const std::string& message, int exit_code) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
};

// Wraps a tool's main: builds the World, sets up logging, runs `body`, and maps errors to exit
// codes. A CollectiveError (raised on every rank) ends the job cleanly; any other exception on a
// multi-rank job is a local failure: logged with the rank, then MPI_Abort, so no rank hangs.
int run_mpi_tool(const std::string& tool, int argc, char** argv, const std::function<int(World&)>& body);

}  // namespace cxr::dist
