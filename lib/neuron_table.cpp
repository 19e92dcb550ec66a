#include "neuron_table.h"

namespace hearth {

neuron_table neuron_table::all_cpu(int32_t n_ff) {
  neuron_table t;
  t.cpu.resize((size_t)n_ff);
  for (int32_t i = 0; i < n_ff; ++i) t.cpu[(size_t)i] = i;
  t.on_gpu.assign((size_t)n_ff, 0);
  return t;
}

void neuron_table::cpu_active(const std::vector<int32_t> &active, std::vector<int32_t> &out) const {
  out.clear();
  if (gpu.empty()) {
    out = active;
    return;
  }
  for (int32_t i : active)
    if (!on_gpu[(size_t)i]) out.push_back(i);
}

}  // namespace hearth
