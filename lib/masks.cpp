#include "masks.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace hearth {

void ffn_masks::reset(int64_t n, int32_t ff) {
  n_tokens = n;
  n_ff = ff;
  active.resize((size_t)n);
  for (auto &a : active) a.clear();
  uni.clear();
  flags.assign((size_t)(n * ff), 0);
}

void ffn_masks::finish() {
  uni.clear();
  if (n_tokens == 1) {
    uni = active[0];
    return;
  }
  for (int32_t i = 0; i < n_ff; ++i)
    for (int64_t t = 0; t < n_tokens; ++t)
      if (flags[(size_t)(t * n_ff + i)]) {
        uni.push_back(i);
        break;
      }
}

void predict_masks(const matrix &fc1, const matrix &fc2, const float *x, int64_t n, float threshold, ffn_masks &out,
                   float *hidden, float *logits, q8_scratch &qs) {
  const int64_t rank = fc1.rows, ff = fc2.rows;
  matmul(fc1, x, n, hidden, qs);
  for (int64_t i = 0; i < n * rank; ++i) hidden[i] = std::max(hidden[i], 0.0f);
  matmul(fc2, hidden, n, logits, qs);
  out.reset(n, (int32_t)ff);
  for (int64_t t = 0; t < n; ++t) {
    const float *l = logits + t * ff;
    for (int32_t i = 0; i < (int32_t)ff; ++i)
      if (l[i] >= threshold) out.add(t, i);
  }
  out.finish();
}

void gate_masks(const float *gate, int64_t n, int32_t n_ff, bool cats, activation act, float threshold, ffn_masks &out) {
  out.reset(n, n_ff);
  for (int64_t t = 0; t < n; ++t) {
    const float *g = gate + t * n_ff;
    for (int32_t i = 0; i < n_ff; ++i) {
      const bool on = cats ? std::fabs(act_value(act, g[i])) >= threshold : g[i] > 0.0f;
      if (on) out.add(t, i);
    }
  }
  out.finish();
}

void list_masks(const int32_t *counts, const int32_t *lists, int64_t n, int32_t n_ff, ffn_masks &out) {
  out.reset(n, n_ff);
  for (int64_t t = 0; t < n; ++t) {
    if (counts[t] < 0 || counts[t] > n_ff) fail(HEARTH_ERR_INTERNAL, "the GPU returned a bad index list");
    for (int32_t c = 0; c < counts[t]; ++c) {
      const int32_t i = lists[t * n_ff + c];
      if (i < 0 || i >= n_ff) fail(HEARTH_ERR_INTERNAL, "the GPU returned a bad index list");
      out.add(t, i);
    }
  }
  out.finish();
}

float cats_threshold(std::vector<float> v, float sparsity) {
  if (v.empty()) return 0.0f;
  const size_t k = std::min(v.size() - 1, (size_t)((double)sparsity * (double)v.size()));
  std::nth_element(v.begin(), v.begin() + (long)k, v.end());
  return v[k];
}

}  // namespace hearth
