// Device and thread placement for every Slurm layout, without a GPU: the decisions are pure
// functions of what a task sees (lib/device/placement.hpp).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "device/placement.hpp"
#include "helpers.hpp"

using cxr::device::check_one_rank_per_device;
using cxr::device::pick_visible_device;
using cxr::device::thread_budget;

namespace {

// What each local rank of a node picks when rank r sees the devices visible[r] (UUIDs).
std::vector<std::string> picks(const std::vector<std::vector<std::string>>& visible) {
  std::vector<std::string> out;
  for (std::size_t r = 0; r < visible.size(); ++r)
    out.push_back(visible[r][static_cast<std::size_t>(pick_visible_device(static_cast<int>(r), static_cast<int>(visible[r].size())))]);
  return out;
}

}  // namespace

TEST_SUITE("placement") {
  TEST_CASE("--gpus-per-node=4 with 4 tasks: every task sees all four and takes its local rank's") {
    const std::vector<std::string> node = {"GPU-a", "GPU-b", "GPU-c", "GPU-d"};
    const auto ids = picks({node, node, node, node});
    CHECK(ids == std::vector<std::string>{"GPU-a", "GPU-b", "GPU-c", "GPU-d"});
    CHECK_NOTHROW(check_one_rank_per_device(ids, "n1"));
  }

  TEST_CASE("--gpus-per-task=1: each task sees one device, index 0, a different one per task") {
    const auto ids = picks({{"GPU-a"}, {"GPU-b"}, {"GPU-c"}, {"GPU-d"}});
    CHECK(ids == std::vector<std::string>{"GPU-a", "GPU-b", "GPU-c", "GPU-d"});
    for (int r = 0; r < 4; ++r) CHECK(pick_visible_device(r, 1) == 0);
    CHECK_NOTHROW(check_one_rank_per_device(ids, "n1"));
  }

  TEST_CASE("CUDA_VISIBLE_DEVICES narrowed per task (one each, in any order): the one it sees") {
    const auto ids = picks({{"GPU-c"}, {"GPU-a"}, {"GPU-d"}, {"GPU-b"}});
    CHECK(ids == std::vector<std::string>{"GPU-c", "GPU-a", "GPU-d", "GPU-b"});
    CHECK_NOTHROW(check_one_rank_per_device(ids, "n1"));
  }

  TEST_CASE("--gpus-per-task=2: two tasks, two devices each, no sharing") {
    const auto ids = picks({{"GPU-a", "GPU-b"}, {"GPU-c", "GPU-d"}});
    CHECK(ids == std::vector<std::string>{"GPU-a", "GPU-d"});
    CHECK_NOTHROW(check_one_rank_per_device(ids, "n1"));
  }

  TEST_CASE("more ranks than visible devices on a node is refused, naming the ranks, the device and the host") {
    const std::vector<std::string> two = {"GPU-a", "GPU-b"};
    const auto ids = picks({two, two, two, two});  // 4 tasks, 2 GPUs visible to all
    const std::string error = CXR_ERROR_OF(check_one_rank_per_device(ids, "node7"));
    CHECK(error.find("local ranks 0, 2 on node7 would share GPU GPU-a") != std::string::npos);
    CHECK(error.find("one GPU per rank") != std::string::npos);
    // One GPU, two tasks that both see it.
    CHECK_THROWS_AS(check_one_rank_per_device(picks({{"GPU-a"}, {"GPU-a"}}), "n1"), cxr::InputError);
    // A task that sees none.
    CHECK(CXR_ERROR_OF(pick_visible_device(0, 0)).find("sees no GPU") != std::string::npos);
  }

  TEST_CASE("ranks on the CPU (empty ids) never conflict") {
    CHECK_NOTHROW(check_one_rank_per_device({"", "", ""}, "n1"));
  }

  TEST_CASE("threads: train.threads, then OMP_NUM_THREADS, then the CPU set shared by ranks with the same mask") {
    // srun --cpus-per-task=1 --cpu-bind=cores: a mask of one CPU per task.
    auto b = thread_budget(0, nullptr, 1, 1, false);
    CHECK(b.cpus == 1);
    CHECK(b.intra_op == 1);
    CHECK(b.noise == 1);
    CHECK(b.source == "CPU affinity: 1 CPUs");
    // An unbound mpirun: 4 ranks share a mask of 16 CPUs.
    b = thread_budget(0, nullptr, 16, 4, false);
    CHECK(b.cpus == 4);
    CHECK(b.intra_op == 4);
    CHECK(b.source.find("shared by 4 ranks") != std::string::npos);
    // OMP_NUM_THREADS wins over the mask; its first level counts; nonsense is an error.
    CHECK(thread_budget(0, "3", 16, 1, false).cpus == 3);
    CHECK(thread_budget(0, "6,2", 16, 1, false).cpus == 6);
    CHECK(thread_budget(0, "", 16, 1, false).cpus == 16);
    CHECK(CXR_ERROR_OF(thread_budget(0, "lots", 16, 1, false)).find("OMP_NUM_THREADS='lots'") != std::string::npos);
    CHECK_THROWS_AS(thread_budget(0, "0", 16, 1, false), cxr::InputError);
    // Slurm allocates CPUs without binding (TaskPlugin=task/none): --cpus-per-task caps the mask.
    b = thread_budget(0, nullptr, 2, 1, false, "1");
    CHECK(b.cpus == 1);
    CHECK(b.source.find("SLURM_CPUS_PER_TASK") != std::string::npos);
    CHECK(thread_budget(0, nullptr, 2, 1, false, "8").cpus == 2);  // never more than the mask
    CHECK(thread_budget(0, "4", 2, 1, false, "1").cpus == 4);      // OMP_NUM_THREADS is the user's word
    CHECK_THROWS_AS(thread_budget(0, nullptr, 2, 1, false, "x"), cxr::InputError);
    // train.threads wins over both.
    b = thread_budget(2, "3", 16, 1, false);
    CHECK(b.cpus == 2);
    CHECK(b.source == "train.threads");
  }

  TEST_CASE("threads are shared: on CPUs the convolutions take nearly all, on a GPU the loader does") {
    auto b = thread_budget(16, nullptr, 0, 1, false);
    CHECK(b.noise == 2);
    CHECK(b.intra_op == 14);
    b = thread_budget(4, nullptr, 0, 1, false);  // few CPUs: the loader's one thread is mostly idle
    CHECK(b.noise == 1);
    CHECK(b.intra_op == 4);
    b = thread_budget(16, nullptr, 0, 1, true);
    CHECK(b.intra_op == 1);
    CHECK(b.noise == 15);
    b = thread_budget(1, nullptr, 0, 1, true);
    CHECK(b.intra_op == 1);
    CHECK(b.noise == 1);
  }

  TEST_CASE("the affinity mask of this process reads back as a CPU list") {
    const std::string list = cxr::device::affinity_list();
    CHECK(!list.empty());
    CHECK(cxr::device::affinity_count() >= 1);
  }
}
