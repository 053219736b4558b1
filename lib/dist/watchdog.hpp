#pragma once
// Bounds every wait on other ranks (dist.timeout_s), so that a dead or stalled peer ends the job
// instead of hanging it. Code that blocks in a collective holds a Watch while it waits; work that
// runs on its own (an NCCL collective on a GPU stream) is checked by a probe. A background thread
// looks at both a few times per timeout: when a wait has outlived the timeout, or a probe reports
// a failure, it `report`s what this rank was waiting for, runs the abort hooks (ncclCommAbort, so
// that GPU streams blocked in NCCL end; at most kHookSeconds, since an abort can itself hang),
// then `end`s the job (World: MPI_Abort). The hot path pays a clock read and a short lock per
// wait; probes run under a lock of their own.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace cxr::dist {

class Watchdog {
  struct Wait {
    std::string what;
    std::chrono::steady_clock::time_point since;
  };
  using Waits = std::list<Wait>;

 public:
  // Called once, on the watchdog thread, with a sentence saying what timed out or failed.
  using Report = std::function<void(const std::string& why)>;
  // Called after the report and the abort hooks; expected not to return (it ends the process).
  // If it does, the watchdog stops watching.
  using End = std::function<void()>;
  static constexpr double kHookSeconds = 10;
  // A probe looks at work in flight and returns what is stuck or broken, or nothing. It runs on
  // the watchdog thread with the current timeout.
  using Probe = std::function<std::optional<std::string>(double timeout_s)>;
  using Clock = std::chrono::steady_clock;

  Watchdog(double timeout_s, Report report, End end);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_timeout(double seconds);
  double timeout() const;
  // Said in the message after what was waited for, e.g. "step 17 of epoch 2".
  void set_context(std::string context);

  // One bounded wait: from watch() until the Watch is destroyed.
  class Watch {
   public:
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch();

   private:
    friend class Watchdog;
    Watch(Watchdog* owner, Waits::iterator it) : owner_(owner), it_(it) {}
    Watchdog* owner_;
    Waits::iterator it_;
  };
  [[nodiscard]] Watch watch(std::string what);

  int add_probe(Probe probe);
  void remove_probe(int id);  // after it returns, the probe no longer runs
  int add_abort_hook(std::function<void()> hook);
  void remove_abort_hook(int id);

  // What a timeout says about a wait for `what` since `since`, when it has outlived `timeout_s`.
  static std::optional<std::string> overdue(const std::string& what, Clock::time_point since,
                                            Clock::time_point now, double timeout_s);

 private:
  void run();
  std::optional<std::string> check_probes();
  void expire(const std::string& why);

  Report report_;
  End end_;
  mutable std::mutex mutex_;       // waits, timeout, context, hooks
  std::mutex probe_mutex_;         // probes (held while they run)
  std::condition_variable cv_;
  double timeout_s_;
  std::string context_;
  Waits waits_;
  std::map<int, Probe> probes_;
  std::map<int, std::function<void()>> abort_hooks_;
  int next_id_ = 0;
  bool stop_ = false, expired_ = false;
  std::thread thread_;  // last: it starts in the constructor's initialiser list, after every other member
};

}  // namespace cxr::dist
