#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>

namespace hearth::cli {

progress_bar::progress_bar(std::FILE *to) : to_(to), tty_(isatty(fileno(to)) != 0) {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::update(const std::string &stage, int64_t done, int64_t total) {
  if (!tty_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (stage != stage_ || !open_) stage_ = stage, stage_t0_ = std::chrono::steady_clock::now();
  done_ = done, total_ = total;
  // at most ten redraws a second from the job (the ticker adds four), and always the end of a stage
  if (std::chrono::steady_clock::now() - drawn_ >= std::chrono::milliseconds(100) || (total > 0 && done >= total)) draw();
  if (!ticker_.joinable()) {
    stop_ = false;
    ticker_ = std::thread([this] { tick(); });
  }
}

void progress_bar::draw() {
  const double frac = total_ > 0 ? std::clamp((double)done_ / (double)total_, 0.0, 1.0) : 0.0;
  constexpr int width = 30;
  const int filled = (int)(frac * width + 0.5);
  const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_t0_).count();
  char eta[32] = "";
  if (frac > 0.02 && frac < 1) std::snprintf(eta, sizeof eta, ", %.0f s left", spent * (1 - frac) / frac);
  std::fprintf(to_, "\r%-10.10s [%s%s] %3.0f%%  %lld/%lld  %.1f s%s\x1b[K", stage_.c_str(),
               std::string((size_t)filled, '#').c_str(), std::string((size_t)(width - filled), '.').c_str(), 100 * frac,
               (long long)done_, (long long)total_, spent, eta);
  std::fflush(to_);
  open_ = true;
  drawn_ = std::chrono::steady_clock::now();
}

void progress_bar::tick() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    if (!stop_ && open_) draw();
  }
}

void progress_bar::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (open_) std::fputc('\n', to_);
    open_ = false;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace hearth::cli
