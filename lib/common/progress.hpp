#pragma once
// Progress for long work: a live bar when stderr is a terminal, a plain line every few seconds
// otherwise (batch logs), and nothing at all when disabled (ranks other than 0).
#include <chrono>
#include <cstdint>
#include <string>

namespace cxr {

class Progress {
 public:
  // `unit` names what is counted ("images"). Batch logs get a line every 10 s.
  Progress(std::string label, std::int64_t total, bool enabled, std::string unit = "images");
  void advance(std::int64_t n = 1);
  void set_note(std::string note) { note_ = std::move(note); }  // shown after the counts ("loss 0.021")
  // Batch logs: a line every `n` units instead (cxr-train: train.log_every steps).
  void set_line_every(std::int64_t n) { line_every_ = n; }
  void finish();

 private:
  void draw(bool final_line);

  std::string label_, unit_, note_;
  std::int64_t total_, done_ = 0, line_every_ = 0, last_line_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cxr
