// The calibration profiler: runs a model densely over a token stream and records, per layer and neuron, how often
// the neuron fires (nonzero activation), plus a bounded, reproducible sample of (FFN input residual, which neurons
// fired) pairs for training predictors. Memory is bounded by the sample count, not by the corpus.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model.h"

namespace hearth {

// One layer's sampled training pairs: row i is a token's FFN input (n_embd floats) and its firing bits (n_ff).
struct layer_samples {
  std::vector<float> x;           // n x n_embd
  std::vector<uint64_t> fired;    // n x words, bit i of a row = neuron i fired
  int64_t n = 0, words = 0;
  bool fired_at(int64_t row, int64_t neuron) const { return (fired[(size_t)(row * words + neuron / 64)] >> (neuron % 64)) & 1u; }
};

struct activation_profile {
  int64_t tokens = 0;                          // tokens profiled
  std::vector<std::vector<uint64_t>> counts;   // per layer, per neuron: tokens it fired for
  std::vector<layer_samples> samples;          // per layer, the same sampled tokens in every layer
  std::vector<float> frequency(int32_t layer) const;  // counts / tokens
};

struct profile_config {
  int32_t n_threads = 0, n_batch = 64, n_ctx = 512;  // the corpus is cut into windows of n_ctx tokens
  int64_t max_samples = 4096;                        // tokens kept per layer for predictor training
  uint64_t seed = 1;
};

// progress(done, total) after each batch; returning false cancels (hearth::error HEARTH_ERR_CANCELLED).
activation_profile profile_activations(const model &m, const std::vector<int32_t> &tokens, const profile_config &cfg,
                                       const std::function<bool(int64_t, int64_t)> &progress = nullptr);

}  // namespace hearth
