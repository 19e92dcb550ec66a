#include "predictor.h"

#include <algorithm>
#include <cmath>

#include "error.h"
#include "offload.h"

namespace hearth {

const char *sparse_mode_name(sparse_mode m) {
  switch (m) {
    case sparse_mode::dense: return "dense";
    case sparse_mode::predictor: return "sparse (predictor)";
    case sparse_mode::exact_gate: return "sparse (exact gate)";
    case sparse_mode::cats: return "sparse (CATS)";
  }
  return "?";
}

sparse_mode resolve_sparse_mode(int32_t requested, const model &m) {
  const ffn_kind k = m.hp().ffn;
  const bool relu_family = k != ffn_kind::silu_gated;
  switch (requested) {
    case 0:
      if (m.has_predictors()) return sparse_mode::predictor;
      if (m.gpu()) return sparse_mode::dense;  // the hybrid executor runs predictor or dense FFNs
      if (relu_family && m.neuron_major()) return sparse_mode::exact_gate;
      return sparse_mode::dense;
    case (int32_t)sparse_mode::dense: return sparse_mode::dense;
    case (int32_t)sparse_mode::predictor:
      if (!m.has_predictors())
        fail(HEARTH_ERR_UNSUPPORTED, "predictor mode needs a PowerInfer file with fc1/fc2 predictors and ffn_down_t in every layer");
      return sparse_mode::predictor;
    case (int32_t)sparse_mode::exact_gate:
      if (!relu_family) fail(HEARTH_ERR_UNSUPPORTED, "exact-gate mode needs a ReLU-family FFN (ReGLU, dReLU or ReLU); this model is SwiGLU (try CATS)");
      return sparse_mode::exact_gate;
    case (int32_t)sparse_mode::cats:
      if (relu_family) fail(HEARTH_ERR_UNSUPPORTED, "CATS mode is for SwiGLU models; ReLU-family models have the exact-gate mode");
      return sparse_mode::cats;
    default:
      fail(HEARTH_ERR_INVALID_ARGUMENT, "unknown sparse mode " + std::to_string(requested));
  }
}

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

size_t ffn_masks::total_active() const {
  size_t s = 0;
  for (const auto &a : active) s += a.size();
  return s;
}

void predict_masks(const layer &L, const float *x, int64_t n, float threshold, ffn_masks &out,
                   std::vector<float> &hidden, std::vector<float> &logits, q8_scratch &qs) {
  const int64_t rank = L.fc1.rows, ff = L.fc2.rows;
  hidden.resize((size_t)(n * rank));
  logits.resize((size_t)(n * ff));
  matmul(L.fc1, x, n, hidden.data(), qs);
  for (float &h : hidden) h = std::max(h, 0.0f);
  matmul(L.fc2, hidden.data(), n, logits.data(), qs);
  out.reset(n, (int32_t)ff);
  for (int64_t t = 0; t < n; ++t) {
    const float *l = logits.data() + t * ff;
    for (int32_t i = 0; i < (int32_t)ff; ++i)
      if (l[i] >= threshold) out.add(t, i);
  }
  out.finish();
}

void gate_masks(const float *gate, int64_t n, int32_t n_ff, bool cats, float threshold, ffn_masks &out) {
  out.reset(n, n_ff);
  for (int64_t t = 0; t < n; ++t) {
    const float *g = gate + t * n_ff;
    for (int32_t i = 0; i < n_ff; ++i) {
      const bool on = cats ? std::fabs(g[i] / (1.0f + std::exp(-g[i]))) >= threshold : g[i] > 0.0f;
      if (on) out.add(t, i);
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
