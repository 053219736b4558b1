#include "dist/watchdog.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <memory>
#include <vector>

namespace cxr::dist {

Watchdog::Watchdog(double timeout_s, Report report, End end)
    : report_(std::move(report)), end_(std::move(end)), timeout_s_(timeout_s), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::set_timeout(double seconds) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    timeout_s_ = seconds;
  }
  cv_.notify_all();  // a shorter timeout takes effect now, not after the old polling interval
}

double Watchdog::timeout() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timeout_s_;
}

void Watchdog::set_context(std::string context) {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = std::move(context);
}

Watchdog::Watch Watchdog::watch(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  waits_.push_front({std::move(what), Clock::now()});
  return Watch(this, waits_.begin());
}

Watchdog::Watch::~Watch() {
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  owner_->waits_.erase(it_);
}

int Watchdog::add_probe(Probe probe) {
  std::lock_guard<std::mutex> lock(probe_mutex_);
  probes_[next_id_] = std::move(probe);
  return next_id_++;
}

void Watchdog::remove_probe(int id) {
  std::lock_guard<std::mutex> lock(probe_mutex_);  // probes run under this lock: none is running now
  probes_.erase(id);
}

int Watchdog::add_abort_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  abort_hooks_[next_id_] = std::move(hook);
  return next_id_++;
}

void Watchdog::remove_abort_hook(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  abort_hooks_.erase(id);
}

std::optional<std::string> Watchdog::overdue(const std::string& what, Clock::time_point since,
                                             Clock::time_point now, double timeout_s) {
  const double waited = std::chrono::duration<double>(now - since).count();
  if (waited <= timeout_s) return std::nullopt;
  return fmt::format("{} has not finished after {:.1f} s (dist.timeout_s = {:g}): a peer rank died, hangs or never "
                     "reached this collective",
                     what, waited, timeout_s);
}

// A probe's report (the timeout read under the main lock, the probes run under their own).
std::optional<std::string> Watchdog::check_probes() {
  const double timeout = this->timeout();
  std::lock_guard<std::mutex> lock(probe_mutex_);
  for (auto& [id, probe] : probes_)
    if (auto report = probe(timeout)) return report;
  return std::nullopt;
}

// The report goes first: an abort hook may hang (ncclCommAbort waits on its peers in some NCCL versions).
void Watchdog::expire(const std::string& why) {
  std::vector<std::function<void()>> hooks;
  std::string context;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, hook] : abort_hooks_) hooks.push_back(hook);
    context = context_;
  }
  report_(context.empty() ? why : why + " [during " + context + "]");
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([hooks, done] {
    for (const auto& hook : hooks) hook();
    done->set_value();
  }).detach();
  finished.wait_for(std::chrono::duration<double>(kHookSeconds));
  end_();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_ && !expired_) {
    // A few looks per timeout, at most one a second and at least every 50 ms.
    const double interval = std::clamp(timeout_s_ / 10, 0.05, 1.0);
    cv_.wait_for(lock, std::chrono::duration<double>(interval));
    if (stop_) break;
    // The oldest wait (waits_ is newest first) past the timeout, else what a probe reports.
    std::optional<std::string> why;
    if (!waits_.empty()) why = overdue(waits_.back().what, waits_.back().since, Clock::now(), timeout_s_);
    lock.unlock();  // probes, hooks and the report may take time: the main thread keeps its watches
    if (!why) why = check_probes();
    if (why) expire(*why);
    lock.lock();
    if (why) expired_ = true;
  }
}

}  // namespace cxr::dist
