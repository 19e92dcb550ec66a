// Perplexity of a model on a token stream, as the training script (tools/tiny-models/train.py) computes it: the
// stream in consecutive windows of n_ctx tokens, each scored from a fresh context, every token but a window's
// first predicted from the ones before it in that window; exp of the mean negative log-likelihood.
#pragma once
#include <cstdint>
#include <vector>

#include "model.h"
#include "session.h"

namespace hearth {

struct perplexity_result {
  double perplexity = 0;
  double nll = 0;             // the mean negative log-likelihood, nats per token
  int64_t scored = 0;         // tokens predicted
  int32_t windows = 0;
  double neuron_share = 1.0;  // FFN neurons computed over neurons (sparse modes)
};

// sc's n_ctx is the window; the stream's tail shorter than 2 tokens is dropped. Log-softmax in double.
perplexity_result perplexity(const model &m, const std::vector<int32_t> &tokens, const session_config &sc);

}  // namespace hearth
