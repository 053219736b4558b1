#include "dist/timeline.hpp"

#include <mutex>
#include <vector>

namespace cxr::dist {
namespace {

class HostTimeline : public Timeline {
 public:
  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    marks_.clear();
    origin_ = Clock::now();
  }
  Mark mark() override {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    marks_.push_back(now);
    return marks_.size() - 1;
  }
  double seconds(Mark m) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::duration<double>(marks_.at(m) - origin_).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mutex_;
  Clock::time_point origin_ = Clock::now();
  std::vector<Clock::time_point> marks_;
};

}  // namespace

std::unique_ptr<Timeline> make_host_timeline() { return std::make_unique<HostTimeline>(); }

}  // namespace cxr::dist
