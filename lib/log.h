// Library logging: everything goes to the host's callback (silent by default), never to stdout.
#pragma once
#include <fmt/format.h>

#include <string>

#include "hearth.h"

namespace hearth {

void log_set(hearth_log_fn fn, void *user, int32_t max_level);
bool log_enabled(int32_t level);
void log_message(int32_t level, const std::string &msg);

template <class... Args>
void log(int32_t level, fmt::format_string<Args...> f, Args &&...args) {
  if (log_enabled(level)) log_message(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hearth
