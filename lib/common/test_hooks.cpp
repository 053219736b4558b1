#include "common/test_hooks.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cxr {
namespace {

TestHooks::At read_at(const char* name) {
  long long step = -1, rank = -1;
  if (const char* v = std::getenv(name); v && std::sscanf(v, "%lld:%lld", &step, &rank) == 2)
    return {step, static_cast<int>(rank)};
  return {};
}

long long read_int(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

}  // namespace

const TestHooks& test_hooks() {
  static const TestHooks hooks = [] {
    TestHooks h;
    h.nan_at = read_at("CXR_TEST_NAN_AT");
    h.fail_at = read_at("CXR_TEST_FAIL_AT");
    h.stop_at = read_at("CXR_TEST_STOP_AT");
    h.signal_at = read_at("CXR_TEST_SIGNAL_AT");
    h.step_delay_ms = static_cast<int>(read_int("CXR_TEST_STEP_DELAY_MS", 0));
    h.image_delay_ms = static_cast<int>(read_int("CXR_TEST_IMAGE_DELAY_MS", 0));
    h.kill_in_save = read_int("CXR_TEST_KILL_IN_SAVE", -1);
    if (const char* v = std::getenv("CXR_TEST_GRAD_FACTOR")) h.grad_factor = std::atof(v);
    h.corrupt_allreduce = read_int("CXR_TEST_CORRUPT_ALLREDUCE", 0) != 0;
    const char* dump = std::getenv("CXR_TEST_DUMP_GRADS");
    if (const char* colon = dump ? std::strchr(dump, ':') : nullptr) {
      h.dump_grads_step = std::atoll(dump);  // stops at the colon
      h.dump_grads_file = colon + 1;
    }
    return h;
  }();
  return hooks;
}

}  // namespace cxr
