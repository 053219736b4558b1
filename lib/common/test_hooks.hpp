#pragma once
// Fault injection for the failure-path tests and the fault-injection figures
// (tests/integration/train_failures.sh, bench/faults.sh). Read once from the environment, the
// first time test_hooks() is called (before any loop starts); unset, every hook does nothing.
//
//   CXR_TEST_NAN_AT=STEP:RANK    that rank's loss is NaN at that global step
//   CXR_TEST_FAIL_AT=STEP:RANK   that rank throws a RuntimeError at that global step
//   CXR_TEST_STOP_AT=STEP:RANK   that rank stops itself (SIGSTOP) at that global step: a frozen node
//   CXR_TEST_SIGNAL_AT=STEP:RANK that rank sends itself SIGUSR1 (a preemption notice) at that step
//   CXR_TEST_STEP_DELAY_MS=N     every training step sleeps N ms (time to signal or kill mid-epoch)
//   CXR_TEST_KILL_IN_SAVE=STEP   SIGKILL between writing that step's checkpoint and publishing it
//   CXR_TEST_IMAGE_DELAY_MS=N    cxr-preprocess sleeps N ms per image
//   CXR_TEST_GRAD_FACTOR=F       the gradient average is multiplied by F (a deliberately wrong factor)
//   CXR_TEST_CORRUPT_ALLREDUCE=1 cxr-bench allreduce spoils one element of its checked result
//   CXR_TEST_DUMP_GRADS=STEP:F   rank 0 writes the averaged gradients of that global step to file F
//                                (float32, parameter order) for tests that compare them across runs
#include <cstdint>
#include <string>

namespace cxr {

struct TestHooks {
  struct At {
    std::int64_t step = -1;
    int rank = -1;
    bool is(std::int64_t s, int r) const { return s == step && r == rank; }
  };
  At nan_at, fail_at, stop_at, signal_at;
  int step_delay_ms = 0, image_delay_ms = 0;
  std::int64_t kill_in_save = -1;
  double grad_factor = 1.0;
  bool corrupt_allreduce = false;
  std::int64_t dump_grads_step = -1;
  std::string dump_grads_file;
};

const TestHooks& test_hooks();

}  // namespace cxr
