#include "dist/timeline.hpp"

#include <algorithm>
#include <mutex>

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

double covered_seconds(std::vector<std::pair<double, double>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  double covered = 0, end = -1e300;
  for (const auto& [a, b] : intervals) {
    if (b <= end) continue;
    covered += b - std::max(a, end);
    end = b;
  }
  return covered;
}

}  // namespace cxr::dist
