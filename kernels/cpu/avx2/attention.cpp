// AVX2 attention over the KV cache (kernels.h, attend_fn): the query heads that share a KV head take each K and V
// row once, so a GQA group of 8 reads the cache once instead of eight times. Positions go in blocks of 32: the
// block's scores (one vector of up to 8 heads per position), one rescale of the running sums per block rather
// than per position, the exponentials eight heads at a time, then V accumulated with the heads' sums in
// registers.
#include <algorithm>
#include <cmath>

#include "../kernels.h"
#include "../widths.h"
#include "../x86_common.h"

namespace hearth::cpu {
namespace {

constexpr int k_block = 32;

template <dtype T>
inline __m256 load8(const uint8_t *row, int i) {
  if constexpr (T == dtype::f32) return _mm256_loadu_ps((const float *)row + i);
  else if constexpr (T == dtype::f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
  else {
    const block_q8_0 *b = (const block_q8_0 *)row + i / qk8_0;
    const __m128i q = _mm_loadl_epi64((const __m128i *)(b->qs + i % qk8_0));
    return _mm256_mul_ps(_mm256_set1_ps(hearth_half_scale(b)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  }
}

// The eight lane sums of a[0..7] as one vector, in order.
inline __m256 reduce8(const __m256 *a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// One block of np <= k_block positions for NQ heads. m8, l8 hold the heads' running max and sum in lanes 0..NQ-1.
template <dtype TK, dtype TV, int NQ>
void attend_block(int hd, const float *q, const uint8_t *k, const uint8_t *v, size_t krb, size_t vrb, int np, float scale, float cap,
                  __m256 &m8, __m256 &l8, float *acc) {
  alignas(32) float s[k_block][8];
  for (int j = 0; j < np; ++j) {
    const uint8_t *kr = k + j * krb;
    __m256 a[8];
    for (int h = 0; h < 8; ++h) a[h] = _mm256_setzero_ps();
    for (int i = 0; i < hd; i += 8) {
      const __m256 kv = load8<TK>(kr, i);
      for (int h = 0; h < NQ; ++h) a[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * hd + i), kv, a[h]);
    }
    if constexpr (NQ == 1) s[j][0] = hearth_hsum256(a[0]);
    else _mm256_store_ps(s[j], reduce8(a));
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  __m256 mx = m8;
  for (int j = 0; j < np; ++j) {
    __m256 sj = _mm256_mul_ps(_mm256_load_ps(s[j]), vscale);
    if (cap > 0) {
      _mm256_store_ps(s[j], sj);
      for (int h = 0; h < NQ; ++h) s[j][h] = cap * std::tanh(s[j][h] / cap);
      sj = _mm256_load_ps(s[j]);
    }
    _mm256_store_ps(s[j], sj);
    mx = _mm256_max_ps(mx, sj);
  }
  // what was summed so far, rescaled to the new maximum (by exp(-inf) = 0 on the first block)
  alignas(32) float f[8];
  _mm256_store_ps(f, hearth_exp256(_mm256_sub_ps(m8, mx)));
  __m256 lsum = _mm256_mul_ps(l8, _mm256_load_ps(f));
  for (int h = 0; h < NQ; ++h)
    if (f[h] != 1.0f) {
      const __m256 fh = _mm256_set1_ps(f[h]);
      for (int i = 0; i < hd; i += 8) _mm256_storeu_ps(acc + h * hd + i, _mm256_mul_ps(_mm256_loadu_ps(acc + h * hd + i), fh));
    }
  for (int j = 0; j < np; ++j) {
    const __m256 p = hearth_exp256(_mm256_sub_ps(_mm256_load_ps(s[j]), mx));
    _mm256_store_ps(s[j], p);
    lsum = _mm256_add_ps(lsum, p);
  }
  m8 = mx;
  l8 = lsum;
  for (int i = 0; i < hd; i += 8) {
    __m256 a[NQ];
    for (int h = 0; h < NQ; ++h) a[h] = _mm256_loadu_ps(acc + h * hd + i);
    for (int j = 0; j < np; ++j) {
      const __m256 vv = load8<TV>(v + j * vrb, i);
      for (int h = 0; h < NQ; ++h) a[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(&s[j][h]), vv, a[h]);
    }
    for (int h = 0; h < NQ; ++h) _mm256_storeu_ps(acc + h * hd + i, a[h]);
  }
}

template <dtype TK, dtype TV, int NQ>
void attend_heads(int hd, const float *q, const uint8_t *k, const uint8_t *v, size_t krb, size_t vrb, int64_t n_pos, float scale,
                  float cap, float *m, float *l, float *acc) {
  alignas(32) float mm[8], ll[8];
  for (int h = 0; h < 8; ++h) mm[h] = h < NQ ? m[h] : 0.0f, ll[h] = h < NQ ? l[h] : 0.0f;
  __m256 m8 = _mm256_load_ps(mm), l8 = _mm256_load_ps(ll);
  for (int64_t p = 0; p < n_pos; p += k_block) {
    const int np = (int)std::min<int64_t>(k_block, n_pos - p);
    attend_block<TK, TV, NQ>(hd, q, k + p * krb, v + p * vrb, krb, vrb, np, scale, cap, m8, l8, acc);
  }
  _mm256_store_ps(mm, m8);
  _mm256_store_ps(ll, l8);
  for (int h = 0; h < NQ; ++h) m[h] = mm[h], l[h] = ll[h];
}

template <dtype TK, dtype TV>
void attend(int hd, int n_q, const float *q, const void *k, const void *v, size_t krb, size_t vrb, int64_t n_pos, float scale,
            float cap, float *m, float *l, float *acc) {
  if (hd % 8 != 0 || n_q < 1 || n_q > 8) {  // head widths that are not a multiple of 8: the reference
    ref_kernels().attend_kv[kv_index(TK)][kv_index(TV)](hd, n_q, q, k, v, krb, vrb, n_pos, scale, cap, m, l, acc);
    return;
  }
  const uint8_t *kb = (const uint8_t *)k, *vb = (const uint8_t *)v;
  hearth_with_width<1, 2, 3, 4, 5, 6, 7, 8>(n_q, [&](auto nq) {
    attend_heads<TK, TV, decltype(nq)::value>(hd, q, kb, vb, krb, vrb, n_pos, scale, cap, m, l, acc);
  });
}

}  // namespace

void add_avx2_attention_kernels(kernel_table &t) {
  constexpr dtype f32 = dtype::f32, f16 = dtype::f16, q8 = dtype::q8_0;
  t.attend_kv[0][0] = attend<f32, f32>, t.attend_kv[0][1] = attend<f32, f16>, t.attend_kv[0][2] = attend<f32, q8>;
  t.attend_kv[1][0] = attend<f16, f32>, t.attend_kv[1][1] = attend<f16, f16>, t.attend_kv[1][2] = attend<f16, q8>;
  t.attend_kv[2][0] = attend<q8, f32>, t.attend_kv[2][1] = attend<q8, f16>, t.attend_kv[2][2] = attend<q8, q8>;
}

}  // namespace hearth::cpu
