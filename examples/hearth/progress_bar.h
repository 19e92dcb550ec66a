// The CLI's progress bar for long offline jobs (synth, quantize, calibrate): one line on stderr, redrawn in place,
// only when stderr is a terminal (a log or a pipe gets the final summary alone). While a stage is open the line
// is redrawn four times a second even when the count does not move (one predictor's training, one big tensor),
// so its clock says the job is alive.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace hearth::cli {

class progress_bar {
 public:
  explicit progress_bar(std::FILE *to = stderr);
  ~progress_bar();
  progress_bar(const progress_bar &) = delete;
  progress_bar &operator=(const progress_bar &) = delete;
  // Shows stage at done of total: a bar, the percentage, the count, the stage's time so far and the time left.
  void update(const std::string &stage, int64_t done, int64_t total);
  // Ends the line if one was drawn (and stops redrawing), so what is printed next starts on its own.
  void finish();
  bool on() const { return tty_; }

 private:
  void draw();  // under mu_
  void tick();  // the redrawing thread

  std::FILE *to_;
  const bool tty_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread ticker_;
  bool open_ = false, stop_ = false;
  std::string stage_;
  int64_t done_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point stage_t0_, drawn_;
};

}  // namespace hearth::cli
