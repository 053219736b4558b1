#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/parallel.hpp"

TEST_SUITE("parallel") {
  TEST_CASE("parallel_for_each runs every item exactly once, on several threads") {
    for (int threads : {1, 2, 4, 64}) {
      std::vector<std::atomic<int>> runs(1000);
      std::atomic<int> callers_seen{0};
      const auto caller = std::this_thread::get_id();
      cxr::parallel_for_each(runs.size(), threads, [&](std::size_t i) {
        ++runs[i];
        if (std::this_thread::get_id() == caller) ++callers_seen;
      });
      for (auto& r : runs) CHECK(r.load() == 1);
      if (threads == 1) CHECK(callers_seen.load() == 1000);  // one thread: the caller's own
    }
    // Slow items (1 ms each) leave every started thread time to take some: more than one works.
    std::set<std::thread::id> ids;
    std::mutex ids_mutex;
    cxr::parallel_for_each(100, 4, [&](std::size_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::lock_guard<std::mutex> lock(ids_mutex);
      ids.insert(std::this_thread::get_id());
    });
    CHECK(ids.size() > 1);
    CHECK(ids.size() <= 4);
    int touched = 0;
    cxr::parallel_for_each(0, 4, [&](std::size_t) { ++touched; });
    CHECK(touched == 0);
  }

  TEST_CASE("the first exception thrown by an item reaches the caller, after all threads stop") {
    std::atomic<int> done{0};
    CHECK_THROWS_WITH(cxr::parallel_for_each(200, 4,
                                             [&](std::size_t i) {
                                               if (i == 17) throw std::runtime_error("item 17 failed");
                                               std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                               ++done;
                                             }),
                      "item 17 failed");
    CHECK(done.load() < 200);  // the remaining items were abandoned
  }
}
