// The operators of a mixture-of-experts FFN: routing (the router's probabilities, the top-k experts of each
// token, their weights) and the FFN itself, which runs each expert once over the tokens that chose it (a prompt's
// tokens gathered per expert, not one expert call per token), each expert dense or masked by its own gate as a
// dense FFN would be (exact gate, CATS), and adds the shared expert.
#pragma once
#include <cstdint>
#include <vector>

#include "masks.h"
#include "model.h"
#include "neuron_table.h"
#include "ops.h"
#include "sparse_ffn.h"
#include "sparse_mode.h"

namespace hearth {

// For each of n tokens, the n_used experts of largest probability (ties: the lower id) and their weights, from
// the router's logits (n x n_expert): softmax or sigmoid, optionally renormalised over the chosen, then scaled.
// ids and weights: n x n_used.
void route(const float *logits, int64_t n, const moe_spec &spec, int32_t *ids, float *weights);

struct moe_scratch {
  std::vector<float> logits, weights, xg, xig, g, u, y, ys, hidden, pred;
  std::vector<int32_t> ids, all;
  std::vector<std::vector<int32_t>> tokens;  // per expert: the tokens that chose it, ascending
  ffn_masks masks;
};

// What one call computed: (token, neuron) pairs of the routed experts, and the weight bytes a one-token call read
// (the router, each chosen expert's rows as its mode reads them, the shared expert).
struct moe_result {
  uint64_t active = 0;
  uint64_t bytes = 0;
};

// A predictor (fc1, fc2) and its input (the FFN's input before its norm, n x n_embd), or none.
struct ffn_predictor {
  const matrix *fc1 = nullptr, *fc2 = nullptr;
  const float *x = nullptr;
  explicit operator bool() const { return fc1 && fc2 && x; }
};

// One FFN over n tokens (xn: n x n_embd after the FFN norm) into y (n x n_embd): every neuron (dense), those whose
// gate is > 0 (exact_gate) or |act(gate)| >= threshold (cats), or those whose predictor logit is >= threshold
// (predictor, with `pred`; dense without). Returns the (token, neuron) pairs computed and adds the bytes it read to
// *bytes.
uint64_t ffn_forward(const ffn_weights &w, const ffn_form &form, sparse_mode mode, float threshold, const float *xn,
                     int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs, uint64_t *bytes,
                     const ffn_predictor &pred = {});

// The router's choice for n tokens (xn: n x n_embd after the FFN norm): ids and weights, n x n_used each (route).
void moe_route(const moe_weights &w, const moe_spec &spec, const float *xn, int64_t n, int32_t *ids, float *weights,
               moe_scratch &s, q8_scratch &qs);
// s.tokens: per expert, the tokens (ascending) whose choice has it; and the weight of expert e for token t.
void moe_tokens(const int32_t *ids, int64_t n, int32_t n_used, int32_t n_expert, moe_scratch &s);
float moe_weight(const int32_t *ids, const float *weights, int32_t n_used, int64_t t, int32_t e);

// What a call may record besides its output (each may be null): |act(gate)| of the routed experts' neurons (CATS
// fitting); per expert and neuron (n_expert x n_ff), the tokens for which it fired (dense: a nonzero activation)
// or was computed (sparse modes); per expert, the tokens that chose it.
struct moe_taps {
  std::vector<float> *samples = nullptr;
  uint64_t *fired = nullptr;
  uint64_t *chosen = nullptr;
};

// The experts' part of the mixture that runs on the CPU, for a choice (ids, weights) already made: each chosen
// expert over the tokens that chose it, times their weights, summed in expert order, into y (n x n_embd), plus the
// shared expert (times sigmoid of its gate). With GPU tables (per expert; null: all on the CPU) an expert computes
// only its CPU rows, every one of them (the hybrid runs dense FFNs), and an expert wholly on the GPU is skipped.
// mode applies to the routed experts on the CPU alone; the shared expert is dense. taps: moe_taps (an expert
// split with the GPU records nothing).
// x_in: the FFN's input before its norm (n x n_embd), which the experts' predictors read in predictor mode.
moe_result moe_experts(const moe_weights &w, const block_spec &spec, sparse_mode mode, float threshold, const float *xn,
                       const float *x_in, int64_t n, const int32_t *ids, const float *weights,
                       const std::vector<neuron_table> *tables, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs,
                       const moe_taps &taps = {});
// The whole mixture on the CPU: moe_route, then moe_experts.
moe_result moe_ffn(const moe_weights &w, const block_spec &spec, sparse_mode mode, float threshold, const float *xn,
                   const float *x_in, int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs,
                   const moe_taps &taps = {});

}  // namespace hearth
