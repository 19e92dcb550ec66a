// Neuron placement: which attention units (a layer's norms, Q/K/V/O, predictor and KV cache) and which hot
// neurons go to the GPU under a VRAM budget. The objective is the time saved per token (each byte moved reads at
// GPU instead of CPU bandwidth, neurons weighted by how often they fire), minus one CPU-GPU synchronisation per
// layer whose FFN has GPU neurons; the communication rule gives each layer 0 or at least C_l GPU neurons. Solved exactly by dynamic programming over layers and capacity: each
// layer's neuron value is concave in the neurons it gets (frequencies sorted descending), so every layer is one
// monotone-argmax (max,+) convolution. Capacity is counted in units of the greatest common divisor of all item
// sizes when that keeps the table within max_units (the solution is then exact), otherwise in coarser units
// (sizes rounded up: never over budget, possibly a little below the optimum).
#pragma once
#include <cstdint>
#include <vector>

namespace hearth {

struct placement_layer_input {
  std::vector<float> frequency;  // per neuron, firing frequency in [0, 1]
  uint64_t neuron_bytes = 0;     // one neuron's rows (gate + up + down) at their quantization
  uint64_t attention_bytes = 0;      // the layer's attention, norms, predictor and KV cache: one unit, all or none
};

struct placement_input {
  std::vector<placement_layer_input> layers;
  uint64_t output_bytes = 0;  // output matrix and final norm, one unit
  uint64_t budget = 0;        // VRAM bytes for all of the above
  double cpu_bandwidth = 20e9, gpu_bandwidth = 1000e9;  // bytes/s
  double sync_seconds = 20e-6;                           // one CPU-GPU synchronisation
  int64_t max_units = 1 << 16;                           // capacity table size bound
};

struct placement_layer {
  bool attention_on_gpu = false;
  std::vector<int32_t> gpu_neurons;  // ascending neuron ids (the GPU table's compact row -> original id)
  int64_t min_neurons = 0;           // C_l: the fewest neurons worth a synchronisation
};

struct placement {
  std::vector<placement_layer> layers;
  bool output_on_gpu = false;
  uint64_t bytes = 0;              // VRAM used
  uint64_t unit = 0;               // capacity unit of the solve, bytes
  double saved_seconds = 0;        // objective: time saved per token
  double gpu_firing_share = 0;     // share of all neuron firings served from the GPU
  double solve_ms = 0;
};

// Throws hearth::error for inconsistent input.
placement solve_placement(const placement_input &in);
// The objective of a given placement (for checks and reports).
double placement_value(const placement_input &in, const placement &p);

}  // namespace hearth
