// The CLI's progress bar for long offline jobs (synth, quantize, calibrate): one line on stderr, redrawn in place,
// only when stderr is a terminal (a log or a pipe gets the final summary alone).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace hearth::cli {

class progress_bar {
 public:
  explicit progress_bar(std::FILE *to = stderr);
  // Shows stage at done of total: a bar, the percentage, the count, the time so far and the time left. Redraws at
  // most ten times a second, and always at the end of a stage.
  void update(const std::string &stage, int64_t done, int64_t total);
  // Ends the line if one was drawn, so what is printed next starts on its own.
  void finish();
  bool on() const { return tty_; }

 private:
  std::FILE *to_;
  bool tty_, open_ = false;
  std::string stage_;
  std::chrono::steady_clock::time_point t0_, stage_t0_, last_;
};

}  // namespace hearth::cli
