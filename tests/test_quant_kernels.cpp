// The kernels of the block types beyond Q4_0/Q8_0 (Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS), every tier this
// CPU runs, against float64 loops over the decoded weights and activations (decoded by dequantize_row, which
// test_quants.cpp checks bit for bit against llama.cpp): dense dot with 1-4 columns, gathered and multi-row dots,
// and the down-projection row axpy, over random row counts and lengths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "dtype.h"
#include "gemm_check.h"
#include "model.h"
#include "ops.h"

using namespace hearth;

namespace {

const dtype k_types[] = {dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::iq4_nl, dtype::q2_k,
                         dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k,  dtype::iq4_xs};

std::vector<const cpu::kernel_table *> tiers() {
  const cpu::kernel_table *t[8];
  const int n = cpu::available_tiers(t, 8);
  return {t, t + n};
}

std::vector<float> gaussian(std::mt19937 &rng, int64_t n, float scale) {
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v((size_t)n);
  for (float &x : v) x = g(rng);
  return v;
}

std::vector<double> decoded(dtype t, const uint8_t *bytes, int64_t n) {
  std::vector<float> f((size_t)n);
  dequantize_row(t, bytes, f.data(), n);
  return {f.begin(), f.end()};
}

// Activations for a weight type: its vec_dot_type's blocks (with Q8_0's side data when that is the format).
struct acts {
  std::vector<uint8_t> bytes;
  std::vector<float> scale;
  std::vector<int32_t> bias;
  size_t stride;
  cpu::q8_aux aux() const { return {scale.data(), bias.data()}; }
};
acts encode(const cpu::kernel_table &k, dtype w, const std::vector<std::vector<float>> &cols, int64_t n) {
  const dtype a = traits(w).vec_dot_type;
  acts r;
  r.stride = row_bytes(a, n) + (size_t)traits(a).block_bytes;  // columns padded apart, to test the stride
  r.bytes.assign(r.stride * cols.size(), 0);
  r.scale.resize(n / 32 * cols.size());
  r.bias.resize(n / 32 * 8 * cols.size());
  for (size_t c = 0; c < cols.size(); ++c) {
    if (a == dtype::q8_0) k.quantize_q8_0(cols[c].data(), r.bytes.data() + c * r.stride, r.scale.data() + c * (n / 32), r.bias.data() + c * (n / 32) * 8, n);
    else quantize_row(a, cols[c].data(), r.bytes.data() + c * r.stride, n);
  }
  return r;
}

int64_t random_length(std::mt19937 &rng, dtype t) {
  const int64_t be = traits(t).block_elems;
  return be * (1 + (int64_t)(rng() % (be == 32 ? 40 : 12)));
}

}  // namespace

TEST_CASE("dense dot kernels of the new block types match float64 on every tier") {
  std::mt19937 rng(31);
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : k_types)
      for (int trial = 0; trial < 25; ++trial) {
        const int64_t n = random_length(rng, t);
        const int nc = 1 + (int)(rng() % 4);
        const std::vector<float> wf = gaussian(rng, n, trial % 3 == 0 ? 0.02f : 1.0f);
        std::vector<uint8_t> w(row_bytes(t, n));
        quantize_row(t, wf.data(), w.data(), n);
        std::vector<std::vector<float>> xf;
        for (int c = 0; c < nc; ++c) xf.push_back(gaussian(rng, n, 2.0f));
        const acts x = encode(*k, t, xf, n);
        const cpu::q8_aux aux = x.aux();
        float out[4], gathered[4];
        k->of(t).dot(n, w.data(), x.bytes.data(), x.stride, &aux, nc, out);
        k->of(t).gather_dot(n, w.data(), x.bytes.data(), x.stride, &aux, nc, gathered);
        const std::vector<double> wd = decoded(t, w.data(), n);
        for (int c = 0; c < nc; ++c) {
          const std::vector<double> xd = decoded(traits(t).vec_dot_type, x.bytes.data() + c * x.stride, n);
          double want = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) want += wd[(size_t)i] * xd[(size_t)i], mag += std::fabs(wd[(size_t)i] * xd[(size_t)i]);
          CAPTURE(k->isa);
          CAPTURE(type_name(t));
          CAPTURE(n);
          CAPTURE(nc);
          CHECK(std::fabs(out[c] - want) <= 4e-6 * mag + 1e-6);
          CHECK(gathered[c] == out[c]);
        }
      }
}

TEST_CASE("multi-row dots and row axpys of the new block types match float64 on every tier") {
  std::mt19937 rng(37);
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : k_types)
      for (int trial = 0; trial < 15; ++trial) {
        const int64_t n = random_length(rng, t);
        const int nrows = (int)(rng() % 10);
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        std::vector<float> coef;
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> wf = gaussian(rng, n, 1.0f);
          data.emplace_back(row_bytes(t, n));
          quantize_row(t, wf.data(), data.back().data(), n);
          coef.push_back(gaussian(rng, 1, 2.0f)[0]);
        }
        for (auto &d : data) rows.push_back(d.data());
        const acts x = encode(*k, t, {gaussian(rng, n, 1.0f)}, n);
        const cpu::q8_aux aux = x.aux();
        std::vector<float> out((size_t)nrows + 1, -1.0f);
        k->of(t).dot_rows(n, rows.data(), nrows, x.bytes.data(), &aux, out.data());
        CHECK(out[(size_t)nrows] == -1.0f);
        const std::vector<double> xd = decoded(traits(t).vec_dot_type, x.bytes.data(), n);
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        std::vector<float> y = gaussian(rng, n, 1.0f);
        std::vector<double> want_y(y.begin(), y.end());
        for (int r = 0; r < nrows; ++r) {
          const std::vector<double> wd = decoded(t, data[(size_t)r].data(), n);
          double want = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            want += wd[(size_t)i] * xd[(size_t)i], mag += std::fabs(wd[(size_t)i] * xd[(size_t)i]);
            want_y[(size_t)i] += coef[(size_t)r] * wd[(size_t)i];
          }
          CHECK(std::fabs(out[(size_t)r] - want) <= 4e-6 * mag + 1e-6);
          float single = 0;
          k->of(t).dot(n, rows[(size_t)r], x.bytes.data(), 0, &aux, 1, &single);
          CHECK(out[(size_t)r] == single);  // sparse and dense paths give the same value for a neuron
        }
        k->of(t).axpy_rows(n, rows.data(), coef.data(), nrows, y.data());
        for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[(size_t)i] - want_y[(size_t)i]) <= 1e-5 * (1 + std::fabs(want_y[(size_t)i])));
      }
}

TEST_CASE("prompt GEMM of the super-block types matches float64 on every SIMD tier, whatever the batch or panel place") {
  std::mt19937 rng(41);
  const dtype types[] = {dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k};
  int tested = 0;
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : types) {
      const cpu::gemm_kernels &g = k->of(t).gemm;
      if (!g) continue;
      ++tested;
      for (int trial = 0; trial < 10; ++trial) {
        const int64_t n = 256 * (1 + (int64_t)(rng() % 6));
        const int nrows = 1 + (int)(rng() % g.rows);     // partial and whole panels
        const int64_t ntok = 1 + (int64_t)(rng() % 21);  // every tile width and tail
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> wf = gaussian(rng, n, trial % 3 == 0 ? 0.02f : 1.0f);
          data.emplace_back(row_bytes(t, n));
          quantize_row(t, wf.data(), data.back().data(), n);
        }
        for (auto &d : data) rows.push_back(d.data());
        std::vector<std::vector<float>> xf;
        for (int64_t c = 0; c < ntok; ++c) xf.push_back(gaussian(rng, n, 2.0f));
        const acts x = encode(*k, t, xf, n);
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        CAPTURE(ntok);
        test::check_gemm(
            g, n, rows, x.bytes.data(), x.stride, ntok, [](int64_t) { return (const cpu::q8_aux *)nullptr; }, 4e-6,
            [&](int64_t c, int r, double *mag) {
              const std::vector<double> xd = decoded(dtype::q8_k, x.bytes.data() + c * x.stride, n);
              const std::vector<double> wd = decoded(t, data[(size_t)r].data(), n);
              double want = 0;
              for (int64_t i = 0; i < n; ++i) want += wd[(size_t)i] * xd[(size_t)i], *mag += std::fabs(wd[(size_t)i] * xd[(size_t)i]);
              return want;
            });
      }
    }
  // the x86 SIMD tiers have them; the reference and AArch64 tiers multiply through dot
  int x86 = 0;
  for (const cpu::kernel_table *k : tiers()) x86 += std::string(k->isa) == "avx2" || std::string(k->isa) == "avx512";
  CHECK(tested == 5 * x86);
}

TEST_CASE("matmul's activation scratch stays within the session's estimate for every activation format") {
  // A batch through matmul (the prompt GEMM where the tier has one) fills q8_scratch; the session's memory check
  // counts q8_scratch_bytes for it. Float weights pack 4-byte GEMM tokens, Q8_0 blocks with side data and tokens,
  // Q8_K blocks and tokens.
  std::mt19937 rng(43);
  const dtype types[] = {dtype::f32, dtype::f16, dtype::q8_0, dtype::q4_0, dtype::q4_k, dtype::q6_k, dtype::q5_1};
  for (dtype t : types) {
    const int64_t cols = 512, rows = 40, n = 37;
    std::vector<uint8_t> w(row_bytes(t, cols) * rows);
    for (int64_t r = 0; r < rows; ++r) quantize_row(t, gaussian(rng, cols, 1.0f).data(), w.data() + r * row_bytes(t, cols), cols);
    matrix m;
    m.type = t, m.rows = rows, m.cols = cols, m.data = w.data(), m.row_size = row_bytes(t, cols);
    const std::vector<float> x = gaussian(rng, n * cols, 1.0f);
    std::vector<float> y((size_t)(n * rows));
    q8_scratch qs;
    matmul(m, x.data(), n, y.data(), qs);
    const size_t held = qs.blocks.size() + qs.scale.size() * sizeof(float) + qs.bias.size() * sizeof(int32_t) + qs.tokens.size();
    CAPTURE(type_name(t));
    if (cpu::kernels().of(t).gemm) CHECK(held > 0);  // the GEMM packed its tokens (float weights without one read x)
    CHECK(held <= q8_scratch_bytes(n, cols));
    // and the product is the product: row 3 of token 5 against float64 over the decoded values
    const std::vector<double> wd = decoded(t, w.data() + 3 * row_bytes(t, cols), cols);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < cols; ++i) want += wd[(size_t)i] * x[(size_t)(5 * cols + i)], mag += std::fabs(wd[(size_t)i] * x[(size_t)(5 * cols + i)]);
    CHECK(std::fabs(y[(size_t)(5 * rows + 3)] - want) <= 0.02 * mag);  // activations quantized to 8 bits
  }
}
