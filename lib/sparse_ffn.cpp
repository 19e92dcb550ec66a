#include "sparse_ffn.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cmath>

#include "dtype.h"

namespace hearth {
namespace {

// Gathered rows are not contiguous: start fetching the next row before the current one is done.
inline void prefetch_row(const uint8_t *row, size_t bytes) {
  for (size_t off = 0; off < bytes && off < 4096; off += 64) __builtin_prefetch(row + off, 0, 3);
}

}  // namespace

void rows_dot(const matrix &w, const int32_t *idx, int64_t K, const float *x, int64_t n, float *out, q8_scratch &qs) {
  const matrix *ws[1] = {&w};
  float *outs[1] = {out};
  rows_dot_shared(ws, outs, 1, idx, K, x, n, qs);
}

void rows_dot_shared(const matrix *const *ws, float *const *outs, int count, const int32_t *idx, int64_t K, const float *x,
                     int64_t n, q8_scratch &qs) {
  if (K == 0) return;
  for (int m = 1; m < count; ++m)
    if (ws[m]->type != ws[0]->type || ws[m]->cols != ws[0]->cols) {  // mixed types: one pass each
      for (int k = 0; k < count; ++k) rows_dot(*ws[k], idx, K, x, n, outs[k], qs);
      return;
    }
  const matrix &w0 = *ws[0];
  const cpu::dot_fn dot = cpu_kernels_for(w0.type).gather_dot;
  const activations act = prepare_activations(w0.type, x, n, w0.cols, qs);
  // A batch: the union of the tokens' active neurons as GEMM panels, with the values the dense path gives
  if (const cpu::gemm_kernels &gk = cpu_kernels_for(w0.type).gemm; gk && n >= 2)
    return gemm_rows(gk, ws, outs, count, idx, K, act, n, qs);
  if (const cpu::dot_rows_fn dot_rows = cpu_kernels_for(w0.type).dot_rows; dot_rows && n == 1) {
    // One token: all the chunk's rows (gate and up of each neuron, neuron after neuron) go to the multi-row
    // kernel, which keeps four row streams in flight and loads x once per four rows.
    const cpu::q8_aux aux = act.aux(0);
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, K, 32),
        [&](const tbb::blocked_range<int64_t> &r) {
          const void *rows[64 * 8];
          float out[64 * 8];
          for (int64_t j0 = r.begin(); j0 < r.end(); j0 += 64) {
            const int64_t j1 = std::min(r.end(), j0 + 64);
            int nr = 0;
            for (int64_t j = j0; j < j1; ++j)
              for (int m = 0; m < count; ++m) rows[nr++] = ws[m]->row(idx[j]);
            dot_rows(w0.cols, rows, nr, act.data, &aux, out);
            nr = 0;
            for (int64_t j = j0; j < j1; ++j)
              for (int m = 0; m < count; ++m) outs[m][j] = out[nr++];
          }
        },
        tbb::simple_partitioner());
    return;
  }
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, K, n == 1 ? 32 : 8),
      [&](const tbb::blocked_range<int64_t> &r) {
        float o[4];
        for (int64_t j = r.begin(); j < r.end(); ++j) {
          for (int m = 0; m < count; ++m) {
            const matrix &w = *ws[m];
            // Gathered rows are not contiguous: the next neuron's rows are requested before this one is done.
            if (j + 1 < r.end()) prefetch_row(w.row(idx[j + 1]), w.row_size);
            for (int64_t t = 0; t < n; t += 4) {
              const int nc = (int)std::min<int64_t>(4, n - t);
              const cpu::q8_aux aux = act.aux(t);
              dot(w.cols, w.row(idx[j]), act.data + t * act.stride, act.stride, &aux, nc, o);
              for (int c = 0; c < nc; ++c) outs[m][(t + c) * K + j] = o[c];
            }
          }
        }
      },
      tbb::simple_partitioner());
}

void rows_axpy(const matrix &w, const int32_t *idx, int64_t K, const float *a, int64_t n, float *y, sparse_scratch &s,
               bool skip_zero) {
  const int64_t d = w.cols;
  std::fill(y, y + n * d, 0.0f);
  if (K == 0) return;
  if (n == 1) {
    // Decode: fixed parts of the active list, each into its own partial sum, reduced in order.
    const int parts = (int)std::min<int64_t>(k_down_parts, K);
    s.partial.assign((size_t)(parts * d), 0.0f);
    const cpu::axpy_rows_fn axpy = cpu_kernels_for(w.type).axpy_rows;
    tbb::parallel_for(
        tbb::blocked_range<int>(0, parts, 1),
        [&](const tbb::blocked_range<int> &r) {
          std::vector<const void *> rows;
          std::vector<float> coef;
          for (int p = r.begin(); p < r.end(); ++p) {
            const int64_t j0 = K * p / parts, j1 = K * (p + 1) / parts;
            rows.clear();
            coef.clear();
            for (int64_t j = j0; j < j1; ++j)
              if (a[j] != 0.0f || !skip_zero) {
                rows.push_back(w.row(idx[j]));
                coef.push_back(a[j]);
              }
            axpy(d, rows.data(), coef.data(), (int)rows.size(), s.partial.data() + p * d);
          }
        },
        tbb::simple_partitioner());
    for (int p = 0; p < parts; ++p) {
      const float *src = s.partial.data() + p * d;
      for (int64_t i = 0; i < d; ++i) y[i] += src[i];
    }
    return;
  }
  // A batch with every coefficient counted (the dense baseline of a neuron-major file): the transpose of a matrix
  // product, through the tier's F32 GEMM over panels of output columns, each packed from the K rows' slices.
  const cpu::gemm_kernels &fg = cpu::kernels().of(dtype::f32).gemm;
  if (const auto pack_columns = cpu_kernels_for(w.type).pack_columns; !skip_zero && pack_columns && fg) {
    const uint8_t *tokens = pack_gemm_tokens(fg, K, a, (size_t)K * sizeof(float), nullptr, n, s.tokens);
    std::vector<const void *> rows((size_t)K);
    for (int64_t j = 0; j < K; ++j) rows[(size_t)j] = w.row(idx[j]);
    tbb::parallel_for(
        tbb::blocked_range<int64_t>(0, (d + fg.rows - 1) / fg.rows, 1),
        [&](const tbb::blocked_range<int64_t> &r) {
          uint8_t *panel = gemm_panel(fg.panel_bytes(K));
          for (int64_t p = r.begin(); p < r.end(); ++p) {
            const int64_t c0 = p * fg.rows;
            const int nc = (int)std::min<int64_t>(fg.rows, d - c0);
            pack_columns(K, rows.data(), c0, nc, panel);
            fg.run(K, panel, nc, tokens, n, y + c0, (size_t)d);
          }
        },
        tbb::simple_partitioner());
    return;
  }
  // Prompt: threads own disjoint column slices of y. A slice of every active row (256 columns: 1.6 MB of a
  // 7B layer's Q4_0 down rows) stays in the core's L2 while each token's row axpy kernel passes over it, so the
  // rows are read from memory once per batch, not once per token.
  const int64_t slice = 256;  // a multiple of every block size
  const cpu::axpy_rows_fn axpy = cpu_kernels_for(w.type).axpy_rows;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, (d + slice - 1) / slice), [&](const tbb::blocked_range<int64_t> &r) {
    std::vector<const void *> rows, ptr;
    std::vector<float> coef;
    for (int64_t sl = r.begin(); sl < r.end(); ++sl) {
      const int64_t c0 = sl * slice, len = std::min(slice, d - c0);
      const size_t off = row_bytes(w.type, c0);
      rows.resize((size_t)K);
      for (int64_t j = 0; j < K; ++j) rows[(size_t)j] = w.row(idx[j]) + off;
      for (int64_t t = 0; t < n; ++t) {
        const float *at = a + t * K;
        if (!skip_zero) {
          axpy(len, rows.data(), at, (int)K, y + t * d + c0);
          continue;
        }
        ptr.clear();
        coef.clear();
        for (int64_t j = 0; j < K; ++j)
          if (at[j] != 0.0f) {
            ptr.push_back(rows[(size_t)j]);
            coef.push_back(at[j]);
          }
        axpy(len, ptr.data(), coef.data(), (int)ptr.size(), y + t * d + c0);
      }
    }
  });
}

namespace {

// One token, quantized rows: the whole FFN in one parallel loop over fixed parts of the active list. Each part
// computes its neurons' gate/up dot products (four row streams at a time), their activations, and adds their
// down rows into its own partial sum; the partials are then reduced in order. One synchronisation per layer
// instead of one per operator, and the same result on any thread count.
void sparse_ffn_decode(const ffn_weights &L, const ffn_form &form, const float *xn, const std::vector<int32_t> &rows,
                       const float *gate_dense, const float *up_dense, float *y, sparse_scratch &s,
                       q8_scratch &qs, cpu::dot_rows_fn dot_rows) {
  const int64_t K = (int64_t)rows.size(), d = L.down_t.cols;
  const int32_t *idx = rows.data();
  const bool need_gate = form.gated && !gate_dense, need_up = !up_dense;
  const float *bg = L.bgate.empty() ? nullptr : L.bgate.data(), *bu = L.bup.empty() ? nullptr : L.bup.data();
  const activations act = prepare_activations(L.up.type, xn, 1, L.up.cols, qs);
  const cpu::q8_aux aux = act.aux(0);
  const cpu::axpy_rows_fn axpy = cpu_kernels_for(L.down_t.type).axpy_rows;
  const int parts = (int)std::min<int64_t>(k_down_parts, K);
  s.g.resize((size_t)K);
  s.u.resize((size_t)K);
  s.a.resize((size_t)K);
  s.partial.assign((size_t)(parts * d), 0.0f);
  tbb::parallel_for(
      tbb::blocked_range<int>(0, parts, 1),
      [&](const tbb::blocked_range<int> &r) {
        std::vector<const void *> ptr;
        std::vector<float> out, coef;
        for (int p = r.begin(); p < r.end(); ++p) {
          const int64_t j0 = K * p / parts, j1 = K * (p + 1) / parts;
          ptr.clear();
          for (int64_t j = j0; j < j1; ++j) {
            if (need_gate) ptr.push_back(L.gate.row(idx[j]));
            if (need_up) ptr.push_back(L.up.row(idx[j]));
          }
          out.resize(ptr.size());
          if (!ptr.empty()) dot_rows(L.up.cols, ptr.data(), (int)ptr.size(), act.data, &aux, out.data());
          size_t o = 0;
          ptr.clear();
          coef.clear();
          for (int64_t j = j0; j < j1; ++j) {
            const float g = need_gate ? out[o++] + (bg ? bg[idx[j]] : 0.0f) : gate_dense ? gate_dense[idx[j]] : 0.0f;
            const float u = need_up ? out[o++] + (bu ? bu[idx[j]] : 0.0f) : up_dense[idx[j]];
            const float a = ffn_act(form, g, u);
            s.g[(size_t)j] = g;
            s.u[(size_t)j] = u;
            s.a[(size_t)j] = a;
            if (a != 0.0f) {
              ptr.push_back(L.down_t.row(idx[j]));
              coef.push_back(a);
            }
          }
          axpy(d, ptr.data(), coef.data(), (int)ptr.size(), s.partial.data() + p * d);
        }
      },
      tbb::simple_partitioner());
  std::fill(y, y + d, 0.0f);
  for (int p = 0; p < parts; ++p) {
    const float *src = s.partial.data() + p * d;
    for (int64_t i = 0; i < d; ++i) y[i] += src[i];
  }
}

}  // namespace

void sparse_ffn(const ffn_weights &L, const ffn_form &form, const float *xn, int64_t n, const ffn_masks &m,
                const std::vector<int32_t> &rows, const float *gate_dense, const float *up_dense, float *y,
                sparse_scratch &s, q8_scratch &qs) {
  const int64_t K = (int64_t)rows.size(), ff = m.n_ff;
  const int32_t *idx = rows.data();
  const cpu::dot_rows_fn dot_rows = cpu_kernels_for(L.up.type).dot_rows;
  const bool same_types = !form.gated || gate_dense || (L.gate.type == L.up.type && L.gate.cols == L.up.cols);
  if (n == 1 && K > 0 && dot_rows && same_types) {
    sparse_ffn_decode(L, form, xn, rows, gate_dense, up_dense, y, s, qs, dot_rows);
    return;
  }
  s.g.resize((size_t)(n * K));
  s.u.resize((size_t)(n * K));
  s.a.resize((size_t)(n * K));
  auto gather = [&](const float *dense, float *out) {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < K; ++j) out[t * K + j] = dense[t * ff + idx[j]];
  };
  const bool need_gate = form.gated && !gate_dense;
  if (gate_dense) gather(gate_dense, s.g.data());
  if (up_dense) gather(up_dense, s.u.data());
  if (need_gate && !up_dense) {  // the predictor mode: gate and up rows of each neuron in one pass
    const matrix *ws[2] = {&L.gate, &L.up};
    float *outs[2] = {s.g.data(), s.u.data()};
    rows_dot_shared(ws, outs, 2, idx, K, xn, n, qs);
  } else {
    if (need_gate) rows_dot(L.gate, idx, K, xn, n, s.g.data(), qs);
    if (!up_dense) rows_dot(L.up, idx, K, xn, n, s.u.data(), qs);
  }
  // biases of the rows computed here (values given densely already have theirs)
  const bool bias_g = need_gate && !L.bgate.empty(), bias_u = !up_dense && !L.bup.empty();
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < K; ++j) {
      float &g = s.g[(size_t)(t * K + j)], &u = s.u[(size_t)(t * K + j)];
      if (bias_g) g += L.bgate[(size_t)idx[j]];
      if (bias_u) u += L.bup[(size_t)idx[j]];
      s.a[(size_t)(t * K + j)] = m.flags[(size_t)(t * ff + idx[j])] ? ffn_act(form, g, u) : 0.0f;
    }
  rows_axpy(L.down_t, idx, K, s.a.data(), n, y, s);
}

}  // namespace hearth
