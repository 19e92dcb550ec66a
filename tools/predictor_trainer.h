// Trains PowerInfer-style activation predictors, logits = fc2 . relu(fc1 . x), from the profiler's samples: weighted
// binary cross-entropy, Adam, mini-batches, one layer per task (deterministic for a seed on any thread count). The
// hidden size (rank) starts from the layer's sparsity and skew and is searched until held-out recall reaches the
// target, keeping the smallest rank that does.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "dtype.h"
#include "profiler.h"

namespace hearth {

struct trainer_config {
  double target_recall = 0.99;  // of firing neurons, on held-out tokens
  double min_precision = 0.5;   // a predictor that reaches recall only by predicting everything does not count
  double holdout = 0.15;        // share of the samples for validation, and again for the final test
  int32_t max_epochs = 60, batch = 32;
  float learning_rate = 1e-2f;
  int32_t min_rank = 16, max_rank = 0;  // 0: n_embd
  int32_t rank_multiple = 16;           // every rank tried is a multiple (a quantized predictor's block size)
  int32_t fixed_rank = 0;               // > 0: no search (must be a multiple of rank_multiple)
  uint64_t seed = 1;
  // The type the predictor is stored in: the final threshold, recall and precision are computed with the stored
  // weights, by the engine's own operators (what a session will compute), not with the training floats.
  dtype predictor_type = dtype::f32;
};

struct trained_predictor {
  int32_t rank = 0;
  std::vector<float> fc1, fc2;  // rank x n_embd, n_ff x rank
  float threshold = 0;          // a neuron is predicted active iff its logit >= threshold
  double recall = 0, precision = 0;  // on held-out test samples (not used for training or selection)
  // Validation logits of the stored predictor: an ascending sample of them, and how many (token, neuron)
  // decisions they stand for (to choose one threshold for every layer, as PowerInfer reads it).
  std::vector<float> val_logits;
  uint64_t val_decisions = 0;
  double sparsity = 0, skew = 0;     // of the layer, from the profile
  int32_t epochs = 0, trials = 0;
};

// The share of firings covered by the hottest 20% of neurons (0.2 = no skew, 1 = all firings in that 20%).
double activation_skew(const std::vector<uint64_t> &counts);

trained_predictor train_predictor(const layer_samples &s, const std::vector<uint64_t> &counts, int64_t tokens,
                                  int64_t n_embd, int64_t n_ff, const trainer_config &cfg, uint64_t layer_seed);

// Every layer, layers in parallel. progress(layers done, total); false cancels.
std::vector<trained_predictor> train_predictors(const activation_profile &p, int64_t n_embd, int64_t n_ff,
                                                const trainer_config &cfg,
                                                const std::function<bool(int64_t, int64_t)> &progress = nullptr);

}  // namespace hearth
