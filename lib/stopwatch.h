// Wall-clock helpers for the per-operator timings in sparse_stats.
#pragma once
#include <chrono>

namespace hearth {

using clock_type = std::chrono::steady_clock;
inline double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// Adds the wall time of a scope to a counter when it ends.
struct op_timer {
  double &acc;
  clock_type::time_point t0 = clock_type::now();
  ~op_timer() { acc += ms_since(t0); }
};

}  // namespace hearth
