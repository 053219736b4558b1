#pragma once
// A parallel loop over coarse work items (an image each) on plain threads. ATen's parallel_for
// is not usable from our code: with LibTorch's OpenMP backend its `#pragma omp` is compiled into
// the caller, which would then need the very OpenMP runtime LibTorch was built with.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cxr {

// Calls fn(i) for every i in [0, n), on up to `threads` threads, the caller's included. Items are
// handed out one at a time; results must not depend on which thread runs an item. The first
// exception thrown by fn is rethrown here, after every thread has stopped.
template <class Fn>
void parallel_for_each(std::size_t n, int threads, Fn&& fn) {
  const std::size_t workers = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, threads)));
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cxr
