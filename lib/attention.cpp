#include "attention.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "dtype.h"
#include "error.h"

namespace hearth {

void check_kv_type(dtype type, int32_t head_dim) {
  if (cpu::kv_index(type) < 0)
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("a KV cache of type {} is not supported (F32, F16 or Q8_0)", type_name(type)));
  if (type == dtype::q8_0 && head_dim % cpu::qk8_0 != 0)
    fail(HEARTH_ERR_INVALID_ARGUMENT,
         fmt::format("a Q8_0 KV cache needs heads of a multiple of 32 values; this model's are {} wide", head_dim));
}

void store_kv(dtype type, const float *src, int64_t n, int64_t width, uint8_t *cache, int32_t pos0) {
  const size_t rb = row_bytes(type, width);
  uint8_t *dst = cache + (size_t)pos0 * rb;
  if (type == dtype::f32) {
    std::memcpy(dst, src, (size_t)(n * width) * sizeof(float));
    return;
  }
  const from_float_fn enc = traits(type).from_float;
  for (int64_t t = 0; t < n; ++t) enc(src + t * width, dst + (size_t)t * rb, width);
}

namespace {
constexpr int k_max_heads = 8;       // query heads per kernel call (kernels.h)
constexpr int64_t k_min_split = 256;  // positions per piece when a step's context is split between threads
}  // namespace

void attend(const float *q, const kv_cache_view &k, const kv_cache_view &v, int64_t n, int32_t pos0, const attention_spec &a,
            float *out) {
  const int hd = a.head_dim;
  const int64_t d = (int64_t)a.n_head * hd;
  const int32_t group = a.n_head / a.n_head_kv;
  const int chunk = std::min(group, k_max_heads), n_chunks = (group + chunk - 1) / chunk;
  const size_t k_head = row_bytes(k.type, hd), v_head = row_bytes(v.type, hd);
  const cpu::attend_fn kernel = cpu::kernels().attend_kv[cpu::kv_index(k.type)][cpu::kv_index(v.type)];
  const float scale = a.scale, cap = a.softcap;
  const int32_t window = a.window;
  auto span = [&](int64_t t, int64_t &first) {
    const int64_t n_kv = pos0 + t + 1;
    first = window > 0 ? std::max<int64_t>(0, n_kv - window) : 0;
    return n_kv - first;
  };
  // A one-token step whose jobs (KV heads x head chunks) are fewer than the threads want splits the context
  // into pieces of at least k_min_split positions; each piece keeps its own softmax state, merged below.
  int64_t pieces = 1;
  if (n == 1) {
    int64_t first = 0;
    const int64_t len = span(0, first), jobs = (int64_t)a.n_head_kv * n_chunks;
    const int64_t want = 4 * (int64_t)tbb::this_task_arena::max_concurrency();
    if (jobs < want) pieces = std::clamp<int64_t>((want + jobs - 1) / jobs, 1, std::max<int64_t>(1, len / k_min_split));
  }
  // Per (piece, head): running max, sum and hd accumulators; with one piece the accumulators are `out` itself.
  std::vector<float> part_ml, part_acc;
  if (pieces > 1) {
    part_ml.assign((size_t)(pieces * a.n_head * 2), 0.0f);
    part_acc.assign((size_t)(pieces * a.n_head * hd), 0.0f);
  }
  const int64_t per_token = (int64_t)a.n_head_kv * n_chunks * pieces;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n * per_token), [&](const tbb::blocked_range<int64_t> &r) {
    for (int64_t job = r.begin(); job < r.end(); ++job) {
      const int64_t t = job / per_token, rest = job % per_token;
      const int64_t kvh = rest / (n_chunks * pieces), c = rest / pieces % n_chunks, piece = rest % pieces;
      const int64_t h0 = kvh * group + c * chunk;
      const int nq = (int)std::min<int64_t>(chunk, group - c * chunk);
      int64_t first = 0;
      const int64_t len = span(t, first);
      const int64_t p0 = first + len * piece / pieces, p1 = first + len * (piece + 1) / pieces;
      float m[k_max_heads], l[k_max_heads];
      std::fill(m, m + nq, -INFINITY);
      std::fill(l, l + nq, 0.0f);
      float *acc = pieces > 1 ? part_acc.data() + (piece * a.n_head + h0) * hd : out + t * d + h0 * hd;
      std::fill(acc, acc + (int64_t)nq * hd, 0.0f);
      kernel(hd, nq, q + t * d + h0 * hd, k.data + (size_t)p0 * k.row_bytes + (size_t)kvh * k_head,
             v.data + (size_t)p0 * v.row_bytes + (size_t)kvh * v_head, k.row_bytes, v.row_bytes, p1 - p0, scale, cap, m, l, acc);
      if (pieces == 1) {
        for (int h = 0; h < nq; ++h)
          for (int i = 0; i < hd; ++i) acc[h * hd + i] /= l[h];
      } else {
        for (int h = 0; h < nq; ++h) {
          part_ml[(size_t)((piece * a.n_head + h0 + h) * 2)] = m[h];
          part_ml[(size_t)((piece * a.n_head + h0 + h) * 2 + 1)] = l[h];
        }
      }
    }
  });
  if (pieces == 1) return;
  // Merging the pieces' states: out = sum_i exp(m_i - M) acc_i / sum_i exp(m_i - M) l_i, M = max_i m_i.
  for (int64_t h = 0; h < a.n_head; ++h) {
    float M = -INFINITY;
    for (int64_t i = 0; i < pieces; ++i) M = std::max(M, part_ml[(size_t)((i * a.n_head + h) * 2)]);
    float L = 0;
    float *o = out + h * hd;
    std::fill(o, o + hd, 0.0f);
    for (int64_t i = 0; i < pieces; ++i) {
      const float f = std::exp(part_ml[(size_t)((i * a.n_head + h) * 2)] - M);
      L += f * part_ml[(size_t)((i * a.n_head + h) * 2 + 1)];
      const float *acc = part_acc.data() + (i * a.n_head + h) * hd;
      for (int j = 0; j < hd; ++j) o[j] += f * acc[j];
    }
    for (int j = 0; j < hd; ++j) o[j] /= L;
  }
}

void attend(const float *q, const float *kc, const float *vc, int64_t n, int32_t pos0, const attention_spec &a, float *out) {
  const size_t rb = (size_t)a.n_head_kv * (size_t)a.head_dim * sizeof(float);
  attend(q, kv_cache_view{dtype::f32, (const uint8_t *)kc, rb}, kv_cache_view{dtype::f32, (const uint8_t *)vc, rb}, n, pos0, a, out);
}

}  // namespace hearth
