// How a session's FFNs run: every neuron, or only those a mask selects (PowerInfer's predictor, the exact gate of
// ReLU-family FFNs, CATS thresholds for SiLU/GELU-gated ones).
#pragma once
#include <cstdint>

namespace hearth {

class model;

enum class sparse_mode {
  dense = 1,       // every neuron, every matrix read whole
  predictor = 2,   // PowerInfer: fc1/fc2 predictor logits >= threshold
  exact_gate = 3,  // ReLU-family: compute the gate densely, then only neurons whose gate is > 0 (no accuracy loss)
  cats = 4,        // SiLU/GELU-gated: compute the gate densely, then neurons with |act(gate)| >= a per-layer threshold
};
const char *sparse_mode_name(sparse_mode m);

// Resolves a requested mode for a session (0 = auto: predictor if the file has predictors; else, on the CPU, the
// exact gate for ReLU-family models with neuron-major down projections; else dense). on_gpu: the session runs the
// hybrid executor, which runs dense and predictor FFNs. Throws if the model cannot run the requested mode.
sparse_mode resolve_sparse_mode(int32_t requested, const model &m, bool on_gpu);

}  // namespace hearth
