#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>

namespace hearth::cli {

progress_bar::progress_bar(std::FILE *to)
    : to_(to), tty_(isatty(fileno(to)) != 0), t0_(std::chrono::steady_clock::now()), stage_t0_(t0_), last_() {}

void progress_bar::update(const std::string &stage, int64_t done, int64_t total) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (stage != stage_) stage_ = stage, stage_t0_ = now;
  const bool end = total > 0 && done >= total;
  if (!end && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total > 0 ? std::clamp((double)done / (double)total, 0.0, 1.0) : 0.0;
  constexpr int width = 30;
  const int filled = (int)(frac * width + 0.5);
  const double spent = std::chrono::duration<double>(now - stage_t0_).count();
  char eta[32] = "";
  if (frac > 0.02 && !end) std::snprintf(eta, sizeof eta, ", %.0f s left", spent * (1 - frac) / frac);
  std::fprintf(to_, "\r%-10.10s [%s%s] %3.0f%%  %lld/%lld  %.1f s%s\x1b[K", stage.c_str(), std::string((size_t)filled, '#').c_str(),
               std::string((size_t)(width - filled), '.').c_str(), 100 * frac, (long long)done, (long long)total, spent, eta);
  std::fflush(to_);
  open_ = true;
}

void progress_bar::finish() {
  if (open_) std::fputc('\n', to_);
  open_ = false;
}

}  // namespace hearth::cli
