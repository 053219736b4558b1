#include "common/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace cxr {
namespace {

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace

Progress::Progress(std::string label, std::int64_t total, bool enabled, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::advance(std::int64_t n) {
  done_ += n;
  if (!enabled_) return;
  if (!tty_ && line_every_ > 0) {
    if (done_ - last_line_ >= line_every_) {
      last_line_ = done_;
      draw(false);
    }
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal redraws often; a log file gets a line every 10 s.
  if (since >= (tty_ ? 0.2 : 10.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final_line) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = t > 0 ? static_cast<double>(done_) / t : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const auto done = static_cast<long long>(done_), total = static_cast<long long>(total_);
  const char* clock = final_line ? "elapsed" : "eta";
  const std::string duration = format_duration(final_line ? t : eta);
  if (tty_) {
    const std::size_t width = 30;
    std::string bar(static_cast<std::size_t>(frac * width), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld %s  %.1f %s/s  %s %s  %s%s", label_.c_str(), bar.c_str(),
                 100 * frac, done, total, unit_.c_str(), rate, unit_.c_str(), clock, duration.c_str(), note_.c_str(),
                 final_line ? "\n" : "   ");
  } else {
    std::fprintf(stderr, "%s: %lld/%lld %s (%.0f%%), %.1f %s/s, %s %s%s%s\n", label_.c_str(), done, total,
                 unit_.c_str(), 100 * frac, rate, unit_.c_str(), clock, duration.c_str(), note_.empty() ? "" : ", ",
                 note_.c_str());
  }
  std::fflush(stderr);
}

}  // namespace cxr
