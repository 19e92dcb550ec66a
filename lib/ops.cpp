#include "ops.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cmath>

#include "../kernels/cpu/kernels.h"
#include "error.h"
#include "row_groups.h"

namespace hearth {
const cpu::type_kernels &cpu_kernels_for(dtype t) {
  const cpu::type_kernels &k = cpu::kernels().of(t);
  if (!k) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("the {} CPU tier has no kernels for {}", cpu::kernels().isa, type_name(t)));
  return k;
}

activations prepare_activations(dtype type, const float *x, int64_t n, int64_t cols, q8_scratch &qs) {
  const dtype act = traits(type).vec_dot_type;
  if (act == dtype::f32) return {(const uint8_t *)x, (size_t)cols * sizeof(float), 0, &qs};
  // Q8_0 through the tier's quantizer, with the q8_aux side data its kernels read, Q8_K through the tier's (each
  // identical bytes whatever the tier); Q8_1 through the reference encoder (a few thousand values per token, next
  // to millions of weights).
  const bool q8_0 = act == dtype::q8_0;
  const auto quant_k = act == dtype::q8_k ? cpu::kernels().quantize_q8_k : nullptr;
  const size_t stride = row_bytes(act, cols);
  const int64_t nb = q8_0 ? cols / cpu::qk8_0 : 0;
  if (qs.blocks.size() < stride * n) qs.blocks.resize(stride * n);
  if (qs.scale.size() < (size_t)(nb * n)) qs.scale.resize((size_t)(nb * n));
  if (qs.bias.size() < (size_t)(nb * n * 8)) qs.bias.resize((size_t)(nb * n * 8));
  if (qs.block_bias.size() < (size_t)(nb * n)) qs.block_bias.resize((size_t)(nb * n));
  const auto quant = cpu::kernels().quantize_q8_0;
  const from_float_fn enc = traits(act).from_float;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, 8), [&](const tbb::blocked_range<int64_t> &r) {
    for (int64_t t = r.begin(); t < r.end(); ++t) {
      uint8_t *dst = qs.blocks.data() + t * stride;
      if (q8_0) {
        quant(x + t * cols, dst, qs.scale.data() + t * nb, qs.bias.data() + t * nb * 8, cols);
        cpu::sum_block_bias(qs.bias.data() + t * nb * 8, nb, qs.block_bias.data() + t * nb);
      } else if (quant_k) quant_k(x + t * cols, dst, cols);
      else enc(x + t * cols, dst, cols);
    }
  });
  return {qs.blocks.data(), stride, nb, &qs};
}

size_t q8_scratch_bytes(int64_t n, int64_t cols) {
  // Per value: Q8_0 is 34/32 bytes of blocks + 40/32 of q8_aux + 40/32 of GEMM tokens (3.56); Q8_K 292/256 of
  // blocks + 292/256 of tokens (2.28); Q8_1 36/32 (no GEMM). Float activations are not copied but their GEMM tokens
  // are 4 bytes a value, the most of any format. The slack covers a partial block per vector.
  return (size_t)n * ((size_t)cols * 4 + 512);
}

const uint8_t *pack_gemm_tokens(const cpu::gemm_kernels &gk, int64_t n, const void *x, size_t x_stride,
                                const cpu::q8_aux *aux, int64_t ntok, std::vector<uint8_t> &buf) {
  const size_t bytes = gk.tokens_bytes(n, ntok);
  if (buf.size() < bytes) buf.resize(bytes);
  gk.pack_tokens(n, x, x_stride, aux, ntok, buf.data());
  return buf.data();
}

uint8_t *gemm_panel(size_t bytes) {
  static thread_local std::vector<uint8_t> panel;
  if (panel.size() < bytes) panel.resize(bytes);
  return panel.data();
}

void gemm_rows(const cpu::gemm_kernels &gk, const matrix *const *ws, float *const *ys, int count, const int32_t *idx,
               int64_t K, const activations &act, int64_t n, q8_scratch &qs) {
  const int64_t cols = ws[0]->cols;
  const cpu::q8_aux aux = act.aux(0);
  const uint8_t *tokens = pack_gemm_tokens(gk, cols, act.data, act.stride, &aux, n, qs.tokens);
  int64_t first[9] = {0};
  for (int m = 0; m < count; ++m) first[m + 1] = first[m] + ((idx ? K : ws[m]->rows) + gk.rows - 1) / gk.rows;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, first[count], 1),
      [&](const tbb::blocked_range<int64_t> &r) {
        uint8_t *panel = gemm_panel(gk.panel_bytes(cols));
        const void *rows[64];
        static thread_local std::vector<uint8_t> unpacked;  // rows of a repacked matrix, back in the file's layout
        for (int64_t p = r.begin(); p < r.end(); ++p) {
          int m = 0;
          while (first[m + 1] <= p) ++m;
          const matrix &w = *ws[m];
          const int64_t nrows = idx ? K : w.rows;
          const int64_t i0 = (p - first[m]) * gk.rows;
          const int nr = (int)std::min<int64_t>(gk.rows, nrows - i0);
          if (w.groups) {
            if (unpacked.size() < (size_t)nr * w.row_size) unpacked.resize((size_t)nr * w.row_size);
            for (int i = 0; i < nr; ++i) {
              unpack_row(w.type, w.groups, cols, idx ? idx[i0 + i] : i0 + i, unpacked.data() + i * w.row_size);
              rows[i] = unpacked.data() + i * w.row_size;
            }
          } else {
            for (int i = 0; i < nr; ++i) rows[i] = w.row(idx ? idx[i0 + i] : i0 + i);
          }
          gk.pack(cols, rows, nr, panel);
          gk.run(cols, panel, nr, tokens, n, ys[m] + i0, (size_t)nrows);
        }
      },
      tbb::simple_partitioner());
}

// One token through matrices repacked into row groups: the groups of all of them form one range; a task takes up
// to 8 groups (128 rows, as the row loop below) so a faster thread can take more, and its kernel walks four
// groups side by side.
static void gemv_groups(cpu::gemv_groups_fn gemv, const matrix *const *ws, float *const *ys, int count, const activations &act) {
  constexpr int64_t R = cpu::k_group_rows;
  int64_t first[9] = {0};
  for (int m = 0; m < count; ++m) first[m + 1] = first[m] + (ws[m]->rows + R - 1) / R;
  const cpu::q8_aux aux = act.aux(0);
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, first[count], std::clamp<int64_t>(first[count] / 8, 1, 8)),
      [&](const tbb::blocked_range<int64_t> &r) {
        int m = 0;
        for (int64_t g = r.begin(); g < r.end();) {
          while (first[m + 1] <= g) ++m;
          const matrix &w = *ws[m];
          const int64_t end = std::min<int64_t>(r.end(), first[m + 1]);
          const int64_t row0 = (g - first[m]) * R;
          const int64_t nrows = std::min<int64_t>(w.rows, (end - first[m]) * R) - row0;
          gemv(w.cols, w.groups + (g - first[m]) * row_group_bytes(w.type, w.cols), nrows, act.data, &aux, ys[m] + row0);
          g = end;
        }
      },
      tbb::simple_partitioner());
}

void matmul(const matrix &w, const float *x, int64_t n, float *y, q8_scratch &qs) {
  const matrix *ws[1] = {&w};
  float *ys[1] = {y};
  matmul_shared(ws, ys, 1, x, n, qs);
}

void matmul_shared(const matrix *const *ws, float *const *ys, int count, const float *x, int64_t n, q8_scratch &qs) {
  const dtype type = ws[0]->type;
  const int64_t cols = ws[0]->cols;
  for (int m = 1; m < count; ++m)
    if (ws[m]->type != type || ws[m]->cols != cols) {  // mixed types: one pass each
      for (int k = 0; k < count; ++k) matmul(*ws[k], x, n, ys[k], qs);
      return;
    }
  const cpu::type_kernels &k = cpu_kernels_for(type);
  const activations act = prepare_activations(type, x, n, cols, qs);
  if (k.gemm && n >= 2) return gemm_rows(k.gemm, ws, ys, count, nullptr, 0, act, n, qs);
  bool grouped = n == 1 && k.gemv_groups;
  for (int m = 0; m < count; ++m) grouped = grouped && ws[m]->groups;
  if (grouped) return gemv_groups(k.gemv_groups, ws, ys, count, act);
  const cpu::dot_fn dot = k.dot;
  const cpu::dot_rows_fn dot_rows = k.dot_rows;
  const uint8_t *xa = act.data;
  const size_t stride = act.stride;
  // The matrices' rows form one range, so one parallel loop (one synchronisation) covers them all. Chunks of
  // 128 rows keep each thread's weight stream long for the prefetcher yet let a faster thread take more chunks
  // (a static split left one thread idle at the end of every matrix); small matrices (a predictor's fc1) get
  // smaller chunks so they still spread over the threads. For batches, 16 rows stay in cache while
  // every token passes over them.
  int64_t total = 0;
  int64_t first[8];
  for (int m = 0; m < count; ++m) {
    first[m] = total;
    total += ws[m]->rows;
  }
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, total, n == 1 ? std::clamp<int64_t>(total / 8, 16, 128) : 16),
      [&](const tbb::blocked_range<int64_t> &r) {
        float out[4];
        int m = 0;
        while (m + 1 < count && first[m + 1] <= r.begin()) ++m;
        for (int64_t g = r.begin(); g < r.end();) {
          while (m + 1 < count && first[m + 1] <= g) ++m;
          const matrix &w = *ws[m];
          const int64_t end = std::min<int64_t>(r.end(), first[m] + w.rows);
          float *y = ys[m];
          if (dot_rows && n == 1 && cols <= 256) {
            // Short rows (a predictor's fc2): per-row call overhead rivals the work, so four rows share each call
            // and each activation load. Long rows stream faster through dot's own far prefetching (measured).
            const cpu::q8_aux aux = act.aux(0);
            const void *rows[256];
            for (int64_t r0 = g - first[m]; r0 < end - first[m]; r0 += 256) {
              const int nr = (int)std::min<int64_t>(256, end - first[m] - r0);
              for (int k = 0; k < nr; ++k) rows[k] = w.row(r0 + k);
              dot_rows(cols, rows, nr, xa, &aux, y + r0);
            }
            g = end;
            continue;
          }
          if (k.gemv_rows && n == 1) {  // float rows, four side by side
            const int64_t r0 = g - first[m];
            k.gemv_rows(cols, w.row(r0), w.row_size, end - g, (const float *)xa, y + r0);
            g = end;
            continue;
          }
          for (int64_t t = 0; t < n; t += 4) {
            const int nc = (int)std::min<int64_t>(4, n - t);
            const cpu::q8_aux aux = act.aux(t);
            for (int64_t row = g - first[m]; row < end - first[m]; ++row) {
              dot(cols, w.row(row), xa + t * stride, stride, &aux, nc, out);
              for (int c = 0; c < nc; ++c) y[(t + c) * w.rows + row] = out[c];
            }
          }
          g = end;
        }
      },
      tbb::simple_partitioner());
}

void rmsnorm(const float *x, const float *weight, int64_t n, int64_t width, float eps, float *y) {
  for (int64_t t = 0; t < n; ++t) {
    const float *xt = x + t * width;
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += (double)xt[i] * xt[i];
    const float scale = (float)(1.0 / std::sqrt(ss / (double)width + eps));
    float *yt = y + t * width;
    for (int64_t i = 0; i < width; ++i) yt[i] = xt[i] * scale * weight[i];
  }
}

void layernorm(const float *x, const float *weight, const float *bias, int64_t n, int64_t width, float eps, float *y) {
  for (int64_t t = 0; t < n; ++t) {
    const float *xt = x + t * width;
    double sum = 0;
    for (int64_t i = 0; i < width; ++i) sum += xt[i];
    const double mean = sum / (double)width;
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += ((double)xt[i] - mean) * ((double)xt[i] - mean);
    const float scale = (float)(1.0 / std::sqrt(ss / (double)width + eps));
    const float m = (float)mean;
    float *yt = y + t * width;
    for (int64_t i = 0; i < width; ++i) yt[i] = (xt[i] - m) * scale * weight[i] + (bias ? bias[i] : 0.0f);
  }
}

void norm(norm_kind kind, const float *x, const float *weight, const float *bias, int64_t n, int64_t width, float eps,
          float *y) {
  if (kind == norm_kind::rms) rmsnorm(x, weight, n, width, eps, y);
  else layernorm(x, weight, bias, n, width, eps, y);
}

void norm(norm_kind kind, const norm_weights &w, float eps, const float *x, int64_t n, int64_t width, float *y) {
  norm(kind, x, w.w.data(), w.b.empty() ? nullptr : w.b.data(), n, width, eps, y);
}

void head_norm(float *x, const float *weight, int64_t n, int32_t n_heads, int32_t head_dim, float eps) {
  rmsnorm(x, weight, n * n_heads, head_dim, eps, x);  // in place: each head's sum is taken before it is written
}

void add_bias(float *y, const float *b, int64_t n, int64_t width) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < width; ++i) y[t * width + i] += b[i];
}

void add(float *x, const float *y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

void softcap(float *x, int64_t count, float c) {
  for (int64_t i = 0; i < count; ++i) x[i] = c * std::tanh(x[i] / c);
}

void ffn_activate(const ffn_form &form, const float *gate, float *up, int64_t count) {
  // Elementwise, so splitting changes no value. A prompt's activation (tokens x n_ff, millions of exp) took 8% of a
  // pp512 profile on one thread while the others waited; one token's is too small to split.
  const auto run = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) up[i] = ffn_act(form, form.gated ? gate[i] : 0.0f, up[i]);
  };
  constexpr int64_t grain = 16384;
  if (count < 2 * grain) return run(0, count);
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, count, grain),
                    [&](const tbb::blocked_range<int64_t> &r) { run(r.begin(), r.end()); });
}

void embed(const matrix &tok_embd, const int32_t *tokens, int64_t n, float *x) {
  for (int64_t t = 0; t < n; ++t) dequantize_row(tok_embd.type, tok_embd.row(tokens[t]), x + t * tok_embd.cols, tok_embd.cols);
}

void add_positions(const matrix &pos_embd, const int32_t *pos, int32_t offset, int64_t n, float *x) {
  std::vector<float> row((size_t)pos_embd.cols);
  for (int64_t t = 0; t < n; ++t) {
    dequantize_row(pos_embd.type, pos_embd.row(pos[t] + offset), row.data(), pos_embd.cols);
    add(x + t * pos_embd.cols, row.data(), pos_embd.cols);
  }
}

}  // namespace hearth
