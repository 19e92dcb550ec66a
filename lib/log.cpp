#include "log.h"

#include <atomic>
#include <mutex>

namespace hearth {
namespace {
std::mutex g_mutex;
hearth_log_fn g_fn = nullptr;
void *g_user = nullptr;
std::atomic<int32_t> g_max_level{-1};
}  // namespace

void log_set(hearth_log_fn fn, void *user, int32_t max_level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_fn = fn;
  g_user = user;
  g_max_level.store(fn ? max_level : -1);
}

bool log_enabled(int32_t level) { return level <= g_max_level.load(std::memory_order_relaxed); }

void log_message(int32_t level, const std::string &msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_fn && level <= g_max_level.load()) g_fn(level, msg.c_str(), g_user);
}

}  // namespace hearth
