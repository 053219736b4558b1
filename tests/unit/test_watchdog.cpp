// The watchdog that bounds every collective (lib/dist/watchdog.hpp): a wait past the timeout is
// reported with what it waited for, a wait that ends in time is not, probes report too.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "dist/watchdog.hpp"

using cxr::dist::Watchdog;
using namespace std::chrono_literals;

namespace {

// Records what expired, and in which order, instead of ending the process.
struct Expiry {
  std::mutex mutex;
  std::condition_variable cv;
  std::string why, order;
  std::atomic<int> hooks{0};
  Watchdog::Report report() {
    return [this](const std::string& w) {
      std::lock_guard<std::mutex> lock(mutex);
      why = w;
      order += "report ";
    };
  }
  Watchdog::End end() {
    return [this] {
      std::lock_guard<std::mutex> lock(mutex);
      order += "end";
      cv.notify_all();
    };
  }
  std::string wait_for(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait_for(lock, limit, [&] { return order.find("end") != std::string::npos; });
    return why;
  }
};

}  // namespace

TEST_SUITE("watchdog") {
  TEST_CASE("a wait past the timeout is reported with what it waited for, the context and the timeout") {
    Expiry expiry;
    Watchdog dog(0.2, expiry.report(), expiry.end());
    dog.add_abort_hook([&] {
      std::lock_guard<std::mutex> lock(expiry.mutex);
      expiry.order += "hook ";
      ++expiry.hooks;
    });
    dog.set_context("global step 7, epoch 1");
    const auto watch = dog.watch("MPI_Allreduce of 2 double values");
    const std::string why = expiry.wait_for(5s);
    CHECK(why.find("MPI_Allreduce of 2 double values has not finished after") != std::string::npos);
    CHECK(why.find("dist.timeout_s = 0.2") != std::string::npos);
    CHECK(why.find("[during global step 7, epoch 1]") != std::string::npos);
    CHECK(expiry.hooks.load() == 1);
    CHECK(expiry.order == "report hook end");  // say why before anything that might hang
  }

  TEST_CASE("an abort hook that hangs does not keep the job from ending") {
    Expiry expiry;
    Watchdog dog(0.1, expiry.report(), expiry.end());
    std::promise<void> never;
    std::shared_future<void> hang = never.get_future().share();
    dog.add_abort_hook([hang] { hang.wait(); });  // a stuck ncclCommAbort
    const auto watch = dog.watch("a barrier");
    const auto start = std::chrono::steady_clock::now();
    CHECK(expiry.wait_for(std::chrono::seconds(30)).find("a barrier") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));  // kHookSeconds, not for ever
    never.set_value();
  }

  TEST_CASE("waits that end within the timeout are never reported") {
    Expiry expiry;
    Watchdog dog(0.3, expiry.report(), expiry.end());
    for (int i = 0; i < 20; ++i) {
      const auto watch = dog.watch("a short wait");
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(400ms);  // longer than the timeout, with nothing waiting
    CHECK(expiry.wait_for(10ms).empty());
  }

  TEST_CASE("a shorter timeout set while waiting takes effect") {
    Expiry expiry;
    Watchdog dog(600, expiry.report(), expiry.end());
    const auto watch = dog.watch("a barrier");
    dog.set_timeout(0.1);
    CHECK(dog.timeout() == doctest::Approx(0.1));
    CHECK(expiry.wait_for(5s).find("a barrier") != std::string::npos);
  }

  TEST_CASE("a removed abort hook does not run") {
    Expiry expiry;
    Watchdog dog(0.1, expiry.report(), expiry.end());
    const int id = dog.add_abort_hook([&] { ++expiry.hooks; });
    dog.remove_abort_hook(id);
    const auto watch = dog.watch("a barrier");
    CHECK(!expiry.wait_for(std::chrono::seconds(5)).empty());
    CHECK(expiry.hooks.load() == 0);
  }

  TEST_CASE("a probe's report expires the watchdog; a removed probe no longer runs") {
    Expiry expiry;
    Watchdog dog(1.0, expiry.report(), expiry.end());
    std::atomic<int> calls{0};
    const int quiet = dog.add_probe([&](double) -> std::optional<std::string> {
      ++calls;
      return std::nullopt;
    });
    std::this_thread::sleep_for(300ms);
    CHECK(calls.load() > 0);
    dog.remove_probe(quiet);
    const int after = calls.load();
    std::this_thread::sleep_for(300ms);
    CHECK(calls.load() == after);
    CHECK(expiry.wait_for(10ms).empty());
    dog.add_probe([](double timeout) -> std::optional<std::string> {
      return "ncclAllReduce of 10 float values has not finished after " + std::to_string(timeout) + " s";
    });
    CHECK(expiry.wait_for(5s).find("ncclAllReduce of 10 float values") != std::string::npos);
  }
}
