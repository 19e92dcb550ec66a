// Which FFN neurons of a layer live where: the CPU table maps each compact CPU row to its original neuron id, and
// a per-neuron flag says whether a neuron is GPU-resident. With no GPU every neuron is cold (on the CPU); the
// hybrid executor fills the GPU side from the placement solver.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hearth {

struct neuron_table {
  std::vector<int32_t> cpu;     // compact CPU row -> original neuron id, ascending
  std::vector<int32_t> gpu;     // compact GPU row -> original neuron id, ascending
  std::vector<uint8_t> on_gpu;  // per original neuron: 1 if GPU-resident

  static neuron_table all_cpu(int32_t n_ff);
  // n neurons of which `gpu` (ascending ids) are GPU-resident, the rest on the CPU.
  static neuron_table split(int64_t n, const std::vector<int32_t> &gpu);
  // The active neurons (original ids, ascending) that the CPU must compute.
  void cpu_active(const std::vector<int32_t> &active, std::vector<int32_t> &out) const;
};

}  // namespace hearth
