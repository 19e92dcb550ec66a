// Activation masks as index lists. Per token and layer, the neurons to compute come from PowerInfer's predictor
// (logit >= threshold), from the gate's own sign (exact for ReLU-family FFNs), or from a CATS threshold on
// |act(gate)|. The lists, not dense float masks, flow to the operators; a batch also gets the union.
#pragma once
#include <cstdint>
#include <vector>

#include "model.h"
#include "ops.h"

namespace hearth {

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
  uint64_t pairs() const {  // the (token, neuron) pairs the masks hold
    uint64_t c = 0;
    for (const auto &list : active) c += list.size();
    return c;
  }
};

// Predictor logits (n x n_ff) for the inputs x (n x n_embd: the FFN's input before its norm, as PowerInfer
// trained it), into logits, then masks where logit >= threshold. hidden: n x rank floats of scratch.
void predict_masks(const matrix &fc1, const matrix &fc2, const float *x, int64_t n, float threshold, ffn_masks &out,
                   float *hidden, float *logits, q8_scratch &qs);
// Masks from dense gate values (n x n_ff): gate > 0 (exact gate) or |act(gate)| >= threshold (CATS).
void gate_masks(const float *gate, int64_t n, int32_t n_ff, bool cats, activation act, float threshold, ffn_masks &out);
// Masks from the index lists a device computed: counts[t] ascending ids at lists + t * n_ff.
void list_masks(const int32_t *counts, const int32_t *lists, int64_t n, int32_t n_ff, ffn_masks &out);

// The CATS threshold that leaves `sparsity` of the neurons below it, from sample |act(gate)| values.
float cats_threshold(std::vector<float> abs_act_gate, float sparsity);

}  // namespace hearth
