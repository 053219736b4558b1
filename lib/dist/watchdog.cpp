#include "dist/watchdog.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cxr::dist {

using Clock = std::chrono::steady_clock;

Watchdog::Watchdog(double timeout_s, Expire expire) : expire_(std::move(expire)), timeout_s_(timeout_s) {
  thread_ = std::thread([this] { run(); });
}

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

Watchdog::Watch::Watch(Watch&& other) noexcept : owner_(other.owner_), it_(other.it_) { other.owner_ = nullptr; }

Watchdog::Watch::~Watch() {
  if (!owner_) return;
  std::lock_guard<std::mutex> lock(owner_->mutex_);
  owner_->waits_.erase(it_);
}

int Watchdog::add_probe(Probe probe) {
  std::lock_guard<std::mutex> lock(mutex_);
  probes_[next_probe_] = std::move(probe);
  return next_probe_++;
}

void Watchdog::remove_probe(int id) {
  std::lock_guard<std::mutex> lock(mutex_);  // probes run under this lock: none is running now
  probes_.erase(id);
}

void Watchdog::add_abort_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  abort_hooks_.push_back(std::move(hook));
}

// The oldest wait past the timeout, or a probe's report.
std::optional<std::string> Watchdog::check_locked(Clock::time_point now) {
  const Wait* oldest = nullptr;
  for (const auto& w : waits_)
    if (!oldest || w.since < oldest->since) oldest = &w;
  const std::string during = context_.empty() ? "" : " (" + context_ + ")";
  if (oldest) {
    const double waited = std::chrono::duration<double>(now - oldest->since).count();
    if (waited > timeout_s_)
      return fmt::format("{}{} has not finished after {:.1f} s (dist.timeout_s = {:g}): a peer rank died, hangs or "
                         "never reached this collective",
                         oldest->what, during, waited, timeout_s_);
  }
  for (auto& [id, probe] : probes_)
    if (auto report = probe(timeout_s_)) return *report + during;
  return std::nullopt;
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_ && !expired_) {
    // A few looks per timeout, at most one a second and at least every 50 ms.
    const double interval = std::clamp(timeout_s_ / 10, 0.05, 1.0);
    cv_.wait_for(lock, std::chrono::duration<double>(interval));
    if (stop_) break;
    auto report = check_locked(Clock::now());
    if (!report) continue;
    expired_ = true;
    const auto hooks = abort_hooks_;
    lock.unlock();  // the hooks and expire may take time; the main thread may still be waiting
    for (const auto& hook : hooks) hook();
    expire_(*report);
    lock.lock();
  }
}

}  // namespace cxr::dist
