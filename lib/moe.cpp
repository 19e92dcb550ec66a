#include "moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "error.h"

namespace hearth {

void route(const float *logits, int64_t n, const moe_spec &spec, int32_t *ids, float *weights) {
  const int32_t E = spec.n_expert, k = spec.n_used;
  std::vector<float> p((size_t)E);
  std::vector<int32_t> order((size_t)E);
  for (int64_t t = 0; t < n; ++t) {
    const float *l = logits + t * E;
    if (spec.gating == expert_gating::softmax) {
      const float mx = *std::max_element(l, l + E);
      double sum = 0;
      for (int32_t e = 0; e < E; ++e) sum += p[(size_t)e] = std::exp(l[e] - mx);
      for (float &v : p) v = (float)(v / sum);
    } else {
      for (int32_t e = 0; e < E; ++e) p[(size_t)e] = 1.0f / (1.0f + std::exp(-l[e]));
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return p[(size_t)a] > p[(size_t)b] || (p[(size_t)a] == p[(size_t)b] && a < b);
    });
    double sum = 0;
    for (int32_t j = 0; j < k; ++j) sum += p[(size_t)order[(size_t)j]];
    for (int32_t j = 0; j < k; ++j) {
      const int32_t e = order[(size_t)j];
      float w = p[(size_t)e];
      if (spec.norm_weights) w = (float)(w / sum);
      if (spec.weights_scale > 0) w *= spec.weights_scale;
      ids[t * k + j] = e;
      weights[t * k + j] = w;
    }
  }
}

// Bytes of a sparse_ffn call: gate and up rows of the computed neurons (unless given densely), down rows of
// those whose activation is not zero in some token (rows_axpy skips the others).
uint64_t sparse_bytes(const ffn_weights &w, const std::vector<int32_t> &rows, int64_t n, const sparse_scratch &sp, bool gate_up_given) {
  uint64_t nonzero = 0;
  const int64_t K = (int64_t)rows.size();
  for (int64_t j = 0; j < K; ++j) {
    bool any = false;
    for (int64_t t = 0; t < n && !any; ++t) any = sp.a[(size_t)(t * K + j)] != 0.0f;
    nonzero += any;
  }
  return (uint64_t)K * (gate_up_given ? 0 : w.up.row_size + w.gate.row_size) + nonzero * w.down_t.row_size;
}

uint64_t ffn_forward(const ffn_weights &w, const ffn_form &form, sparse_mode mode, float threshold, const float *xn,
                     int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs, uint64_t *bytes,
                     const ffn_predictor &pred) {
  const int64_t ff = w.up.rows;
  s.g.resize((size_t)(n * ff));
  s.u.resize((size_t)(n * ff));
  float *g = s.g.data(), *u = s.u.data();
  if (mode == sparse_mode::predictor && pred && w.down_t) {  // the predictor's neurons: their gate, up and down rows
    s.hidden.resize((size_t)(n * pred.fc1->rows));
    s.pred.resize((size_t)(n * ff));
    predict_masks(*pred.fc1, *pred.fc2, pred.x, n, threshold, s.masks, s.hidden.data(), s.pred.data(), qs);
    sparse_ffn(w, form, xn, n, s.masks, s.masks.uni, nullptr, nullptr, y, sp, qs);
    *bytes += pred.fc1->bytes() + pred.fc2->bytes() + sparse_bytes(w, s.masks.uni, n, sp, false);
    return s.masks.pairs();
  }
  if (mode == sparse_mode::dense || mode == sparse_mode::predictor) {
    const matrix *m[2] = {&w.up, &w.gate};
    float *out[2] = {u, g};
    matmul_shared(m, out, w.gate ? 2 : 1, xn, n, qs);
    if (!w.bup.empty()) add_bias(u, w.bup.data(), n, ff);
    if (!w.bgate.empty()) add_bias(g, w.bgate.data(), n, ff);
    ffn_activate(form, g, u, n * ff);
    if (w.down) {
      matmul(w.down, u, n, y, qs);
    } else {  // neuron-major: every row, zeros included, as a dense engine reads them
      if ((int64_t)s.all.size() < ff) {
        s.all.resize((size_t)ff);
        std::iota(s.all.begin(), s.all.end(), 0);
      }
      rows_axpy(w.down_t, s.all.data(), ff, u, n, y, sp, false);
    }
    *bytes += w.bytes();
    return (uint64_t)(n * ff);
  }
  // exact gate, CATS: the gate (a gate-less FFN: up) densely, then only the neurons its mask keeps
  const bool gateless = !form.gated;
  const matrix &gm = gateless ? w.up : w.gate;
  const std::vector<float> &gb = gateless ? w.bup : w.bgate;
  matmul(gm, xn, n, g, qs);
  if (!gb.empty()) add_bias(g, gb.data(), n, ff);
  gate_masks(g, n, (int32_t)ff, mode == sparse_mode::cats, form.act, threshold, s.masks);
  *bytes += gm.bytes();
  const uint64_t active = s.masks.pairs();
  const std::vector<int32_t> &rows = s.masks.uni;
  if (w.down_t) {
    sparse_ffn(w, form, xn, n, s.masks, rows, gateless ? nullptr : g, gateless ? g : nullptr, y, sp, qs);
    // up rows of the kept neurons (the gate was read whole); down rows of those whose activation is not zero
    // (dReLU zeroes more than the gate's sign says)
    *bytes += sparse_bytes(w, rows, n, sp, true) + (gateless ? 0 : (uint64_t)rows.size() * w.up.row_size);
    return active;
  }
  // row-major down (llama.cpp's layout): up for the kept neurons only, then the whole down projection
  std::fill(u, u + n * ff, 0.0f);
  if (gateless) {
    std::copy(g, g + n * ff, u);
  } else {
    const int64_t K = (int64_t)rows.size();
    sp.u.resize((size_t)(n * K));
    rows_dot(w.up, rows.data(), K, xn, n, sp.u.data(), qs);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < K; ++j)
        u[t * ff + rows[(size_t)j]] = sp.u[(size_t)(t * K + j)] + (w.bup.empty() ? 0.0f : w.bup[(size_t)rows[(size_t)j]]);
    *bytes += (uint64_t)K * w.up.row_size;
  }
  for (int64_t i = 0; i < n * ff; ++i)
    if (!s.masks.flags[(size_t)i]) u[i] = 0.0f;
  ffn_activate(form, g, u, n * ff);
  matmul(w.down, u, n, y, qs);
  *bytes += w.down.bytes();
  return active;
}

void moe_route(const moe_weights &w, const moe_spec &spec, const float *xn, int64_t n, int32_t *ids, float *weights,
               moe_scratch &s, q8_scratch &qs) {
  if ((int32_t)w.experts.size() != spec.n_expert || w.router.rows != spec.n_expert)
    fail(HEARTH_ERR_INTERNAL, "moe_route: the router and the experts disagree");
  s.logits.resize((size_t)(n * spec.n_expert));
  matmul(w.router, xn, n, s.logits.data(), qs);
  route(s.logits.data(), n, spec, ids, weights);
}

void moe_tokens(const int32_t *ids, int64_t n, int32_t n_used, int32_t n_expert, moe_scratch &s) {
  s.tokens.assign((size_t)n_expert, {});
  for (int64_t t = 0; t < n; ++t)
    for (int32_t j = 0; j < n_used; ++j) s.tokens[(size_t)ids[t * n_used + j]].push_back((int32_t)t);
}

float moe_weight(const int32_t *ids, const float *weights, int32_t n_used, int64_t t, int32_t e) {
  for (int32_t c = 0; c < n_used; ++c)
    if (ids[t * n_used + c] == e) return weights[t * n_used + c];
  return 0.0f;
}

moe_result moe_experts(const moe_weights &w, const block_spec &spec, sparse_mode mode, float threshold, const float *xn,
                       const float *x_in, int64_t n, const int32_t *ids, const float *weights,
                       const std::vector<neuron_table> *tables, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs,
                       const moe_taps &taps) {
  const moe_spec &ms = spec.moe;
  const int32_t E = ms.n_expert, k = ms.n_used;
  const int64_t d = w.router.cols;
  moe_result r;
  moe_tokens(ids, n, k, E, s);
  std::fill(y, y + n * d, 0.0f);
  for (int32_t e = 0; e < E; ++e) {
    const std::vector<int32_t> &toks = s.tokens[(size_t)e];
    const neuron_table *tb = tables ? &(*tables)[(size_t)e] : nullptr;
    if (taps.chosen) taps.chosen[e] += toks.size();
    if (toks.empty() || (tb && tb->cpu.empty())) continue;
    const ffn_weights &ex = w.experts[(size_t)e];
    const int64_t m = (int64_t)toks.size(), ff = ex.up.rows;
    const bool predicted = mode == sparse_mode::predictor && !w.fc1.empty() && x_in;
    const float *x = xn, *xi = x_in;
    if (m != n) {  // the tokens that chose e, gathered (and their input before the norm, for the predictor)
      s.xg.resize((size_t)(m * d));
      for (int64_t j = 0; j < m; ++j) std::copy(xn + toks[(size_t)j] * d, xn + (toks[(size_t)j] + 1) * d, s.xg.data() + j * d);
      x = s.xg.data();
      if (predicted) {
        s.xig.resize((size_t)(m * d));
        for (int64_t j = 0; j < m; ++j) std::copy(x_in + toks[(size_t)j] * d, x_in + (toks[(size_t)j] + 1) * d, s.xig.data() + j * d);
        xi = s.xig.data();
      }
    }
    s.y.resize((size_t)(m * d));
    if (tb && !tb->gpu.empty()) {  // the CPU's rows of an expert split with the GPU, every one of them
      s.masks.reset(m, (int32_t)ff);
      for (int64_t t = 0; t < m; ++t)
        for (int32_t i : tb->cpu) s.masks.add(t, i);
      s.masks.finish();
      sparse_ffn(ex, spec.ffn, x, m, s.masks, tb->cpu, nullptr, nullptr, s.y.data(), sp, qs);
      r.active += (uint64_t)(m * (int64_t)tb->cpu.size());
      r.bytes += (uint64_t)tb->cpu.size() * ex.neuron_bytes();
    } else {
      ffn_predictor pred;
      if (predicted) pred = {&w.fc1[(size_t)e], &w.fc2[(size_t)e], xi};
      r.active += ffn_forward(ex, spec.ffn, mode, threshold, x, m, s.y.data(), s, sp, qs, &r.bytes, pred);
      if (taps.samples)  // ffn_forward left the gate's values in s.g
        for (int64_t i = 0; i < m * ff; ++i) taps.samples->push_back(std::fabs(act_value(spec.ffn.act, s.g[(size_t)i])));
      if (uint64_t *f = taps.fired ? taps.fired + (size_t)e * (size_t)ff : nullptr) {
        if (mode == sparse_mode::dense || (mode == sparse_mode::predictor && !predicted)) {  // s.u: the activations
          for (int64_t t = 0; t < m; ++t)
            for (int64_t i = 0; i < ff; ++i) f[i] += s.u[(size_t)(t * ff + i)] != 0.0f;
        } else {
          for (const auto &list : s.masks.active)
            for (int32_t i : list) ++f[i];
        }
      }
    }
    for (int64_t j = 0; j < m; ++j) {
      const int64_t t = toks[(size_t)j];
      const float wt = moe_weight(ids, weights, k, t, e);
      const float *src = s.y.data() + j * d;
      float *dst = y + t * d;
      for (int64_t i = 0; i < d; ++i) dst[i] += wt * src[i];
    }
  }
  if (w.shared) {
    s.ys.resize((size_t)(n * d));
    ffn_forward(w.shared, spec.ffn, sparse_mode::dense, 0.0f, xn, n, s.ys.data(), s, sp, qs, &r.bytes);
    for (int64_t t = 0; t < n; ++t) {
      float scale = 1.0f;
      if (!w.shared_gate.empty()) {
        double z = 0;
        for (int64_t i = 0; i < d; ++i) z += (double)w.shared_gate[(size_t)i] * xn[t * d + i];
        scale = (float)(1.0 / (1.0 + std::exp(-z)));
      }
      for (int64_t i = 0; i < d; ++i) y[t * d + i] += scale * s.ys[(size_t)(t * d + i)];
    }
    r.bytes += w.shared_gate.size() * sizeof(float);
  }
  return r;
}

moe_result moe_ffn(const moe_weights &w, const block_spec &spec, sparse_mode mode, float threshold, const float *xn,
                   const float *x_in, int64_t n, float *y, moe_scratch &s, sparse_scratch &sp, q8_scratch &qs,
                   const moe_taps &taps) {
  const int32_t k = spec.moe.n_used;
  s.ids.resize((size_t)(n * k));
  s.weights.resize((size_t)(n * k));
  moe_route(w, spec.moe, xn, n, s.ids.data(), s.weights.data(), s, qs);
  moe_result r = moe_experts(w, spec, mode, threshold, xn, x_in, n, s.ids.data(), s.weights.data(), nullptr, y, s, sp, qs, taps);
  r.bytes += w.router.bytes();
  return r;
}

}  // namespace hearth
