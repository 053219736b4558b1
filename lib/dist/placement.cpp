#include "dist/placement.hpp"

#include <sched.h>

#include <algorithm>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "common/error.hpp"

namespace cxr::dist {

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
    std::string list;
    for (auto r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
    throw InputError(fmt::format("local ranks {} on {} would share GPU {}: NCCL needs one GPU per rank. Start at most "
                                 "one rank per GPU (srun --gpus-per-task=1, or --gpus-per-node=G with G tasks per node), "
                                 "or train on CPUs with train.device=cpu",
                                 list, host, id));
  }
}

ThreadBudget thread_budget(int configured, const char* omp_num_threads, int affinity_cpus, int ranks_sharing_mask, bool cuda) {
  ThreadBudget b;
  if (configured > 0) {
    b.cpus = configured;
    b.source = "train.threads";
  } else if (omp_num_threads && *omp_num_threads) {
    // OpenMP allows a list for nested levels ("4,2"): the first level is ours.
    char* end = nullptr;
    const long n = std::strtol(omp_num_threads, &end, 10);
    if (n < 1 || end == omp_num_threads || (*end != '\0' && *end != ','))
      throw InputError(std::string("OMP_NUM_THREADS='") + omp_num_threads + "' is not a positive number of threads");
    b.cpus = static_cast<int>(n);
    b.source = "OMP_NUM_THREADS";
  } else {
    const int sharing = std::max(1, ranks_sharing_mask);
    b.cpus = std::max(1, affinity_cpus / sharing);
    b.source = sharing > 1 ? fmt::format("CPU affinity: {} CPUs shared by {} ranks", affinity_cpus, sharing)
                           : fmt::format("CPU affinity: {} CPUs", affinity_cpus);
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

}  // namespace cxr::dist
