#pragma once
// Where a rank runs: which GPU it takes and how many CPU threads it uses. The decisions are
// pure functions of what the task sees, so every Slurm layout is unit-tested without a GPU;
// device/device.cpp and the trainer feed them what the machine says.
#include <string>
#include <vector>

namespace cxr::device {

// Which of the `visible` devices local rank `local_rank` takes: the only one when the task sees
// one (srun --gpus-per-task=1, or CUDA_VISIBLE_DEVICES narrowed per task), the local rank modulo
// the count when it sees several (--gpus-per-node=G with G tasks). InputError when it sees none.
int pick_visible_device(int local_rank, int visible);

// Refuses the one layout NCCL cannot run: two ranks of a node on the same physical GPU (more
// ranks than visible devices). `ids[r]` identifies the device local rank r picked (its UUID;
// empty for a rank on the CPU). Throws InputError naming the ranks, the device and the host.
void check_one_rank_per_device(const std::vector<std::string>& ids, const std::string& host);

// The CPU threads of one rank.
struct ThreadBudget {
  int cpus = 1;        // the CPUs this rank may use
  std::string source;  // where that number came from, for the log
  int intra_op = 1;    // LibTorch's intra-op threads (the convolutions on CPU)
  int noise = 1;       // threads drawing the loader's noise (the prefetch thread included)
};

// The CPUs of a rank: `configured` (train.threads) when > 0; else OMP_NUM_THREADS when set
// (`omp_num_threads`, may be null; its first number counts); else the CPUs of the process's
// affinity mask, shared by the `ranks_sharing_mask` local ranks that have the same mask (an
// unbound mpirun gives every rank the whole node), and at most SLURM_CPUS_PER_TASK
// (`slurm_cpus_per_task`, may be null) where Slurm allocates CPUs without binding tasks to them.
// They are then split: on CPUs the convolutions get nearly all (the noise of an image costs ~1 ms
// against seconds of training) and the loader one thread per 8 CPUs; on a GPU the host's work is
// the loader's, so it gets all but one.
ThreadBudget thread_budget(int configured, const char* omp_num_threads, int affinity_cpus, int ranks_sharing_mask, bool cuda,
                           const char* slurm_cpus_per_task = nullptr);

// The CPUs this process may run on (sched_getaffinity): a canonical list ("0-3,8") and a count.
std::string affinity_list();
int affinity_count();

}  // namespace cxr::device
