#include "dist/world.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <numeric>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/tool.hpp"

namespace cxr::dist {
namespace {

// How many tasks the launcher says it started, or 0 when it does not say.
int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(name)) return std::atoi(v);
  }
  // Inside an srun step (not merely inside an sbatch allocation).
  if (std::getenv("SLURM_STEP_ID") != nullptr) {
    if (const char* v = std::getenv("SLURM_STEP_NUM_TASKS")) return std::atoi(v);
  }
  return 0;
}

constexpr double kDefaultTimeoutS = 600;

// The message a rank leaves before it aborts the job, in one write(2): a pipe keeps a write of
// under PIPE_BUF bytes whole, so the launcher's MPI_Abort banner cannot land inside it (it did
// inside a message streamed to std::cerr piece by piece).
void write_abort_message(int rank, int size, const std::string& host, const std::string& why) {
  const std::string text = "error on rank " + std::to_string(rank) + " of " + std::to_string(size) + " (" + host + "): " + why +
                           "\nAborting the whole job so that no rank waits forever.\n";
  std::cerr.flush();
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// Strings of `lens` bytes each, received back to back: `receive` gets the buffer and each one's
// offset in it (an MPI ...gatherv).
std::vector<std::string> unpack(const std::vector<int>& lens,
                                const std::function<void(std::string&, const int*)>& receive) {
  std::vector<int> offsets(lens.size());
  std::exclusive_scan(lens.begin(), lens.end(), offsets.begin(), 0);
  std::string all(static_cast<std::size_t>(std::accumulate(lens.begin(), lens.end(), 0)), '\0');
  receive(all, offsets.data());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lens.size(); ++i)
    out.push_back(all.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lens[i])));
  return out;
}

// Gathers strings of any length on `comm` (lengths first, then the bytes), watched as `what`.
std::vector<std::string> all_gather_strings(const std::string& text, MPI_Comm comm, Watchdog& watchdog,
                                            const std::string& what) {
  const auto watch = watchdog.watch(what);
  int n = 0, len = static_cast<int>(text.size());
  MPI_Comm_size(comm, &n);
  std::vector<int> lens(static_cast<std::size_t>(n));
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm);
  return unpack(lens, [&](std::string& all, const int* offsets) {
    MPI_Allgatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets, MPI_CHAR, comm);
  });
}

}  // namespace

Failure failure_of(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    return {e.what(), kExitUsage};
  } catch (const CollectiveError& e) {
    return {e.what(), e.exit_code};
  } catch (const std::exception& e) {
    return {e.what(), kExitFailure};
  } catch (...) {
    return {"unknown error", kExitFailure};
  }
}

World::World(int* argc, char*** argv) {
  // MPI_THREAD_MULTIPLE: the watchdog thread may call MPI_Abort while the main thread waits in
  // a collective.
  if (const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_); rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw RuntimeError("MPI_Init_thread failed: " + std::string(text, static_cast<std::size_t>(len)));
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_);
  MPI_Comm_rank(node_, &local_rank_);
  MPI_Comm_size(node_, &local_size_);
  char name[256] = {0};
  ::gethostname(name, sizeof(name) - 1);
  host_ = name;

  const int expected = launcher_size();
  if (expected > 1 && size_ == 1) {
    std::cerr << "error: the launcher started " << expected
              << " tasks but MPI sees a world of 1: every task is running alone. The MPI library and the "
                 "launcher's PMI do not match (under Slurm try `srun --mpi=pmix`, or launch with mpirun).\n";
    MPI_Finalize();
    std::exit(kExitUsage);
  }

  watchdog_ = std::make_unique<Watchdog>(
      kDefaultTimeoutS,
      [this](const std::string& why) { write_abort_message(rank_, size_, host_, why); },
      [this] {
        // Without MPI_THREAD_MULTIPLE this thread may not call MPI: ending the process makes the
        // launcher (mpirun; srun --kill-on-bad-exit) end the others.
        if (thread_level_ >= MPI_THREAD_MULTIPLE) MPI_Abort(MPI_COMM_WORLD, kExitFailure);
        std::_Exit(kExitFailure);
      });
}

World::~World() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    // MPI_Finalize waits for every rank (a fence in Open MPI): bounded like any collective.
    const auto watch = watchdog_->watch("MPI_Finalize");
    MPI_Comm_free(&node_);
    MPI_Finalize();
  }
  watchdog_.reset();
}

void World::barrier(const std::string& what) const {
  const auto watch = watchdog_->watch("MPI_Barrier: " + what);
  MPI_Barrier(MPI_COMM_WORLD);
}

bool World::all_true(bool value, const std::string& what) const {
  const auto watch = watchdog_->watch("MPI_Allreduce: " + what);
  int v = value ? 1 : 0, out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return out == 1;
}

double World::max(double value) const {
  const auto watch = watchdog_->watch("MPI_Allreduce of a maximum");
  MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return value;
}

std::string World::broadcast(const std::string& text, int root) const {
  const auto watch = watchdog_->watch("MPI_Bcast of rank " + std::to_string(root) + "'s text");
  std::uint64_t n = text.size();
  MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
  std::string out = rank_ == root ? text : std::string(n, '\0');
  // Counts are ints in MPI: send in pieces so a large plan (hundreds of MB) still goes through.
  const std::uint64_t piece = 1u << 30;
  for (std::uint64_t off = 0; off < n; off += piece) {
    const int len = static_cast<int>(std::min(piece, n - off));
    MPI_Bcast(out.data() + off, len, MPI_CHAR, root, MPI_COMM_WORLD);
  }
  return out;
}

std::vector<std::string> World::gather(const std::string& text, int root) const {
  const auto watch = watchdog_->watch("MPI_Gatherv to rank " + std::to_string(root));
  int len = static_cast<int>(text.size());
  std::vector<int> lens(rank_ == root ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  return unpack(lens, [&](std::string& all, const int* offsets) {
    MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets, MPI_CHAR, root, MPI_COMM_WORLD);
  });
}

std::vector<std::string> World::node_all_gather(const std::string& text) const {
  return all_gather_strings(text, node_, *watchdog_, "MPI_Allgatherv among the ranks of " + host_);
}

void World::agree(const std::optional<Failure>& mine) const {
  if (size_ == 1) {  // nobody to agree with: report and end here
    if (!mine) return;
    spdlog::error("{}", mine->message);
    throw CollectiveError(mine->message, mine->exit_code, /*already_reported=*/true);
  }
  if (all_true(!mine.has_value(), "agreeing whether every rank's part worked")) return;

  // Someone failed: everyone learns every failure; rank 0 says them, grouped by message.
  const nlohmann::json me = mine ? nlohmann::json{{"message", mine->message}, {"code", mine->exit_code}, {"host", host_}}
                                 : nlohmann::json(nullptr);
  const std::string mine_text = me.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // a path may not be UTF-8
  const auto all = all_gather_strings(mine_text, MPI_COMM_WORLD, *watchdog_, "MPI_Allgatherv of the ranks' errors");
  std::map<std::string, std::vector<std::string>> ranks_of;  // message -> "rank (host)" of its failing ranks
  std::optional<Failure> first;
  for (int r = 0; r < size_; ++r) {
    const auto j = nlohmann::json::parse(all[static_cast<std::size_t>(r)]);
    if (j.is_null()) continue;
    const auto message = j["message"].get<std::string>();
    ranks_of[message].push_back(std::to_string(r) + " (" + j["host"].get<std::string>() + ")");
    if (!first) first = Failure{message, j["code"].get<int>()};
  }
  if (is_root()) {
    for (const auto& [message, ranks] : ranks_of) {
      if (static_cast<int>(ranks.size()) == size_)
        spdlog::error("on all {} ranks: {}", size_, message);
      else
        spdlog::error("on rank{} {} of {}: {}", ranks.size() > 1 ? "s" : "", fmt::join(ranks, ", "), size_,
                      message);
    }
  }
  throw CollectiveError(first->message, first->exit_code, /*already_reported=*/true);
}

std::optional<int> parse_command_line(const World& world, CLI::App& app, int argc, char** argv) {
  std::string error;
  const auto code = cxr::parse_command_line(app, argc, argv, world.is_root(), &error);
  std::optional<Failure> failure;
  if (code && *code != 0) failure = Failure{error, *code};
  world.agree(failure);
  return code;
}

int run_mpi_tool(const std::string& tool, int argc, char** argv, const std::function<int(World&)>& body) {
  World world(&argc, &argv);
  setup_logging(tool, world.rank(), world.size());
  try {
    return body(world);
  } catch (const CollectiveError& e) {
    if (world.is_root() && !e.reported) spdlog::error("{}", e.what());
    return e.exit_code;
  } catch (...) {
    const Failure f = failure_of(std::current_exception());
    if (world.size() > 1) {
      write_abort_message(world.rank(), world.size(), world.host(), f.message);
      MPI_Abort(MPI_COMM_WORLD, f.exit_code);
      std::exit(f.exit_code);
    }
    spdlog::error("{}", f.message);
    return f.exit_code;
  }
}

}  // namespace cxr::dist
