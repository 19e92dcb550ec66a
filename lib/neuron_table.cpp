#include "neuron_table.h"

namespace hearth {

neuron_table neuron_table::all_cpu(int32_t n_ff) {
  neuron_table t;
  t.cpu.resize((size_t)n_ff);
  for (int32_t i = 0; i < n_ff; ++i) t.cpu[(size_t)i] = i;
  t.on_gpu.assign((size_t)n_ff, 0);
  return t;
}

neuron_table neuron_table::split(int64_t n, const std::vector<int32_t> &gpu) {
  neuron_table t;
  t.on_gpu.assign((size_t)n, 0);
  for (int32_t i : gpu) t.on_gpu[(size_t)i] = 1;
  t.gpu = gpu;
  for (int32_t i = 0; i < (int32_t)n; ++i)
    if (!t.on_gpu[(size_t)i]) t.cpu.push_back(i);
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
