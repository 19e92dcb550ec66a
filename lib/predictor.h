// Activation masks as index lists. Per token and layer, the neurons to compute come from PowerInfer's predictor
// (logit >= threshold), from the gate's own sign (exact for ReLU-family FFNs), or from a CATS threshold on
// |silu(gate)| (SwiGLU). The lists, not dense float masks, flow to the operators; a batch also gets the union.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"
#include "ops.h"

namespace hearth {

enum class sparse_mode {
  dense = 1,       // every neuron, every matrix read whole
  predictor = 2,   // PowerInfer: fc1/fc2 predictor logits >= threshold
  exact_gate = 3,  // ReLU-family: compute the gate densely, then only neurons whose gate is > 0 (no accuracy loss)
  cats = 4,        // SwiGLU: compute the gate densely, then neurons with |silu(gate)| >= a per-layer threshold
};
const char *sparse_mode_name(sparse_mode m);
// Resolves a requested mode (0 = auto: predictor if the file has predictors, exact_gate for ReLU-family models
// with neuron-major down projections when the model runs on the CPU only, else dense); throws if the model cannot run the requested mode.
sparse_mode resolve_sparse_mode(int32_t requested, const model &m);

struct ffn_masks {
  int64_t n_tokens = 0;
  int32_t n_ff = 0;
  std::vector<std::vector<int32_t>> active;  // per token, ascending original ids
  std::vector<int32_t> uni;                  // union over the tokens, ascending
  std::vector<uint8_t> flags;                // n_tokens x n_ff: 1 where active

  void reset(int64_t n, int32_t n_ff);
  void add(int64_t t, int32_t i) {
    active[(size_t)t].push_back(i);
    flags[(size_t)(t * n_ff + i)] = 1;
  }
  void finish();  // builds the union
  size_t total_active() const;
};

// Predictor logits (n x n_ff) for the FFN inputs x (n x n_embd; the residual before the FFN norm, as PowerInfer
// trained it), then masks where logit >= threshold.
void predict_masks(const layer &L, const float *x, int64_t n, float threshold, ffn_masks &out,
                   std::vector<float> &hidden, std::vector<float> &logits, q8_scratch &qs);
// Masks from dense gate values (n x n_ff): gate > 0 (exact gate) or |silu(gate)| >= threshold (CATS).
void gate_masks(const float *gate, int64_t n, int32_t n_ff, bool cats, float threshold, ffn_masks &out);

// The CATS threshold that leaves `sparsity` of the neurons below it, from sample gate values.
float cats_threshold(std::vector<float> abs_silu_gate, float sparsity);

}  // namespace hearth
