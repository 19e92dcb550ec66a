// The operators of a mixture-of-experts FFN: routing (the router's probabilities, the top-k experts of each
// token, their weights) and the FFN itself, which runs each expert once over the tokens that chose it (a prompt's
// tokens gathered per expert, not one expert call per token), each expert dense or masked by its own gate as a
// dense FFN would be (exact gate, CATS), and adds the shared expert.
#pragma once
#include <cstdint>
#include <vector>

#include "masks.h"
#include "model.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "sparse_mode.h"

namespace hearth {

// For each of n tokens, the n_used experts of largest probability (ties: the lower id) and their weights, from
// the router's logits (n x n_expert): softmax or sigmoid, optionally renormalised over the chosen, then scaled.
// ids and weights: n x n_used.
void route(const float *logits, int64_t n, const moe_spec &spec, int32_t *ids, float *weights);

struct moe_scratch {
  std::vector<float> logits, weights, xg, g, u, y, ys;
  std::vector<int32_t> ids, all;
  std::vector<std::vector<int32_t>> tokens;  // per expert: the tokens that chose it, ascending
  ffn_masks masks;
};

// What one call computed: (token, neuron) pairs of the routed experts, the experts each token ran, and the weight
// bytes a one-token call read (the router, each chosen expert's rows as its mode reads them, the shared expert).
struct moe_result {
  uint64_t active = 0;
  uint64_t bytes = 0;
  std::vector<int32_t> experts_run;  // ascending ids of the experts this call ran
};

// One FFN over n tokens (xn: n x n_embd after the FFN norm) into y (n x n_embd): every neuron (dense), or those
// whose gate is > 0 (exact_gate) or |act(gate)| >= threshold (cats). Returns the (token, neuron) pairs computed
// and adds the bytes it read to *bytes.
uint64_t ffn_forward(const ffn_weights &w, const ffn_form &form, sparse_mode mode, float threshold, const float *xn,
                     int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs, uint64_t *bytes);

// The mixture's output y (n x n_embd) for the normed inputs xn: each chosen expert's FFN times its weight, summed
// in expert order, plus the shared expert (times sigmoid of its gate). mode applies to the routed experts; the
// shared expert is dense. samples, when given, receives |act(gate)| of the routed experts' neurons (CATS fitting).
moe_result moe_ffn(const moe_weights &w, const block_spec &spec, sparse_mode mode, float threshold, const float *xn,
                   int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs,
                   std::vector<float> *samples = nullptr);

}  // namespace hearth
