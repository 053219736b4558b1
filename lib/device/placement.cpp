#include "device/placement.hpp"

#include <sched.h>

#include <algorithm>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"

namespace cxr::device {

int pick_visible_device(int local_rank, int visible) {
  if (visible <= 0) throw InputError("this task sees no GPU (check CUDA_VISIBLE_DEVICES and the job's --gpus options)");
  return visible == 1 ? 0 : local_rank % visible;
}

void check_one_rank_per_device(const std::vector<std::string>& ids, const std::string& host) {
  std::map<std::string, std::vector<std::size_t>> ranks_on;
  for (std::size_t r = 0; r < ids.size(); ++r)
    if (!ids[r].empty()) ranks_on[ids[r]].push_back(r);
  for (const auto& [id, ranks] : ranks_on) {
    if (ranks.size() < 2) continue;
    throw InputError(fmt::format("local ranks {} on {} would share GPU {}: NCCL needs one GPU per rank. Start at most "
                                 "one rank per GPU (srun --gpus-per-task=1, or --gpus-per-node=G with G tasks per node), "
                                 "or train on CPUs with train.device=cpu",
                                 fmt::join(ranks, ", "), host, id));
  }
}

namespace {

// The first number of an OpenMP-style count ("4", or "4,2" for nested levels); InputError
// naming the variable when it is not a positive number.
int positive_count(const char* name, const char* text) {
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  if (n < 1 || end == text || (*end != '\0' && *end != ','))
    throw InputError(std::string(name) + "='" + text + "' is not a positive number of threads");
  return static_cast<int>(n);
}

}  // namespace

ThreadBudget thread_budget(int configured, const char* omp_num_threads, int affinity_cpus, int ranks_sharing_mask, bool cuda,
                           const char* slurm_cpus_per_task) {
  ThreadBudget b;
  if (configured > 0) {
    b.cpus = configured;
    b.source = "train.threads";
  } else if (omp_num_threads && *omp_num_threads) {
    b.cpus = positive_count("OMP_NUM_THREADS", omp_num_threads);  // "4,2" (nested levels): the first is ours
    b.source = "OMP_NUM_THREADS";
  } else {
    const int sharing = std::max(1, ranks_sharing_mask);
    b.cpus = std::max(1, affinity_cpus / sharing);
    b.source = sharing > 1 ? fmt::format("CPU affinity: {} CPUs shared by {} ranks", affinity_cpus, sharing)
                           : fmt::format("CPU affinity: {} CPUs", affinity_cpus);
    if (slurm_cpus_per_task && *slurm_cpus_per_task) {
      const int allocated = positive_count("SLURM_CPUS_PER_TASK", slurm_cpus_per_task);
      if (allocated < b.cpus) {
        b.cpus = allocated;
        b.source = fmt::format("SLURM_CPUS_PER_TASK; {}", b.source);
      }
    }
  }
  if (cuda) {
    b.intra_op = 1;
    b.noise = std::max(1, b.cpus - 1);
  } else {
    b.noise = std::max(1, b.cpus / 8);
    b.intra_op = b.cpus >= 8 ? b.cpus - b.noise : b.cpus;
  }
  return b;
}

std::string affinity_list() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return "";
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    out += (out.empty() ? "" : ",") + (last == cpu ? std::to_string(cpu) : fmt::format("{}-{}", cpu, last));
    cpu = last;
  }
  return out;
}

int affinity_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return CPU_COUNT(&set);
}

}  // namespace cxr::device
