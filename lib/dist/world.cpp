#include "dist/world.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "common/error.hpp"
#include "common/tool.hpp"

namespace cxr::dist {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw RuntimeError(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
  }
}

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

}  // namespace

World::World(int* argc, char*** argv) {
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
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
}

World::~World() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void World::barrier() const { MPI_Barrier(MPI_COMM_WORLD); }

bool World::all_true(bool value) const {
  int v = value ? 1 : 0, out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return out == 1;
}

std::int64_t World::sum(std::int64_t value) const {
  std::int64_t out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

double World::max(double value) const {
  double out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

std::string World::broadcast(const std::string& text, int root) const {
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
  int len = static_cast<int>(text.size());
  std::vector<int> lens(rank_ == root ? static_cast<std::size_t>(size_) : 0);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  std::vector<int> offsets(lens.size());
  std::string all;
  if (rank_ == root) {
    int total = 0;
    for (std::size_t i = 0; i < lens.size(); ++i) {
      offsets[i] = total;
      total += lens[i];
    }
    all.resize(static_cast<std::size_t>(total));
  }
  MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, root, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lens.size(); ++i)
    out.push_back(all.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lens[i])));
  return out;
}

void World::abort(const std::string& message, int exit_code) const {
  std::cerr << "error on rank " << rank_ << " of " << size_ << " (" << host_ << "): " << message
            << "\nAborting the whole job so that no rank waits forever.\n";
  std::cerr.flush();
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

int run_mpi_tool(const std::string& tool, int argc, char** argv, const std::function<int(World&)>& body) {
  World world(&argc, &argv);
  setup_logging(tool, world.rank(), world.size());
  try {
    return body(world);
  } catch (const CollectiveError& e) {
    if (world.is_root()) spdlog::error("{}", e.what());
    return e.exit_code;
  } catch (const InputError& e) {
    if (world.size() > 1) world.abort(e.what(), kExitUsage);
    spdlog::error("{}", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    if (world.size() > 1) world.abort(e.what(), kExitFailure);
    spdlog::error("{}", e.what());
    return kExitFailure;
  }
}

}  // namespace cxr::dist
