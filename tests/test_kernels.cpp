// Every kernel of every tier this CPU runs, against float64 loops over the same decoded values, for random
// lengths with tails and 1 to 4 activation columns.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cpu/kernels.h"
#include "dtype.h"
#include "gemm_check.h"
#include "row_groups.h"

using namespace hearth;

namespace {

std::vector<const cpu::kernel_table *> tiers() {
  const cpu::kernel_table *t[8];
  const int n = cpu::available_tiers(t, 8);
  return {t, t + n};
}

std::vector<float> random_floats(std::mt19937 &rng, int64_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v((size_t)n);
  for (float &x : v) x = u(rng);
  return v;
}

// Decoded weight value i of a row in any computable format (independent of the library's dequantize).
double weight_at(dtype t, const std::vector<uint8_t> &row, int64_t i) {
  switch (t) {
    case dtype::f32: { float f; std::memcpy(&f, row.data() + 4 * i, 4); return f; }
    case dtype::f16: { uint16_t h; std::memcpy(&h, row.data() + 2 * i, 2); return hearth_fp16_to_f32(h); }
    case dtype::bf16: { uint16_t h; std::memcpy(&h, row.data() + 2 * i, 2); return hearth_bf16_to_f32(h); }
    case dtype::q8_0: {
      const uint8_t *b = row.data() + (i / 32) * 34;
      uint16_t d; std::memcpy(&d, b, 2);
      return (int8_t)b[2 + i % 32] * (double)hearth_fp16_to_f32(d);
    }
    case dtype::q4_0: {
      const uint8_t *b = row.data() + (i / 32) * 18;
      uint16_t d; std::memcpy(&d, b, 2);
      const int j = (int)(i % 32);
      const int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
      return (q - 8) * (double)hearth_fp16_to_f32(d);
    }
    default: return 0;
  }
}

cpu::dot_fn pick(const cpu::kernel_table &k, dtype t) { return k.of(t).dot; }

}  // namespace

TEST_CASE("dot kernels of every tier match float64 over random lengths and columns") {
  std::mt19937 rng(7);
  const dtype types[] = {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0};
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : types)
      for (int trial = 0; trial < 40; ++trial) {
        const bool q = t == dtype::q8_0 || t == dtype::q4_0;
        // float types: any length (tails of every size); block types: whole blocks, odd counts included
        const int64_t n = q ? 32 * (1 + (int64_t)(rng() % 40)) : 1 + (int64_t)(rng() % 300);
        const int nc = 1 + (int)(rng() % 4);
        const std::vector<float> wf = random_floats(rng, n);
        std::vector<uint8_t> w(row_bytes(t, n));
        quantize_row(t, wf.data(), w.data(), n);
        // activations: floats, or Q8_0 blocks for quantized weights; columns padded apart to test the stride
        std::vector<std::vector<float>> xf;
        const size_t stride = q ? row_bytes(dtype::q8_0, n) + 34 : (size_t)(n + 3) * sizeof(float);
        std::vector<uint8_t> x(stride * (size_t)nc);
        std::vector<float> xd((size_t)(n / 32 * nc));
        std::vector<int32_t> xb((size_t)(n / 32 * nc * 8));
        for (int c = 0; c < nc; ++c) {
          xf.push_back(random_floats(rng, n, 2.0f));
          if (q) k->quantize_q8_0(xf.back().data(), x.data() + c * stride, xd.data() + c * (n / 32), xb.data() + c * (n / 32) * 8, n);
          else std::memcpy(x.data() + c * stride, xf.back().data(), (size_t)n * sizeof(float));
        }
        float out[4];
        const cpu::q8_aux aux = {xd.data(), xb.data()};
        pick(*k, t)(n, w.data(), x.data(), stride, q ? &aux : nullptr, nc, out);
        for (int c = 0; c < nc; ++c) {
          std::vector<uint8_t> xc(x.begin() + (long)(c * stride), x.begin() + (long)(c * stride + stride));
          double want = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            const double xv = q ? weight_at(dtype::q8_0, xc, i) : xf[(size_t)c][(size_t)i];
            want += weight_at(t, w, i) * xv;
            mag += std::fabs(weight_at(t, w, i) * xv);
          }
          CAPTURE(k->isa);
          CAPTURE(type_name(t));
          CAPTURE(n);
          CAPTURE(nc);
          CHECK(std::fabs(out[c] - want) <= 2e-6 * mag + 1e-6);
        }
      }
}

TEST_CASE("Q8_0 activation quantization: identical bytes on every tier, within half a step of the input") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t n = 32 * (1 + (int64_t)(rng() % 16));
    std::vector<float> x = random_floats(rng, n, trial % 5 == 0 ? 1e-3f : 10.0f);
    if (trial == 3) std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
    std::vector<uint8_t> want(row_bytes(dtype::q8_0, n));
    cpu::ref_kernels().quantize_q8_0(x.data(), want.data(), nullptr, nullptr, n);
    for (const cpu::kernel_table *k : tiers()) {
      std::vector<uint8_t> got(want.size());
      std::vector<float> scales((size_t)(n / 32));
      std::vector<int32_t> bias((size_t)(n / 32 * 8));
      k->quantize_q8_0(x.data(), got.data(), scales.data(), bias.data(), n);
      CAPTURE(k->isa);
      CHECK(got == want);
      for (int64_t b = 0; b < n / 32; ++b) {  // the side data against its definition
        uint16_t h;
        std::memcpy(&h, got.data() + b * 34, 2);
        CHECK(scales[(size_t)b] == hearth_fp16_to_f32(h));
        for (int lane = 0; lane < 8; ++lane) {
          int32_t sum = 0;
          for (int j = 4 * lane; j < 4 * lane + 4; ++j) sum += (int8_t)got[(size_t)(b * 34 + 2 + j)];
          CHECK(bias[(size_t)(b * 8 + lane)] == -8 * sum);
        }
      }
    }
    for (int64_t b = 0; b < n / 32; ++b) {
      double amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, (double)std::fabs(x[(size_t)(b * 32 + j)]));
      const double d = amax / 127;
      uint16_t dbits;
      std::memcpy(&dbits, want.data() + b * 34, 2);
      const double dh = hearth_fp16_to_f32(dbits);  // the stored scale, rounded to fp16 (subnormal for tiny blocks)
      for (int j = 0; j < 32; ++j) {
        const int64_t i = b * 32 + j;
        const double got = weight_at(dtype::q8_0, want, i);
        CHECK(std::fabs(got - x[(size_t)i]) <= 0.5 * d + 127 * std::fabs(dh - d) + 1e-12);
      }
    }
  }
}

TEST_CASE("Q8_K activation quantization: identical bytes on every tier, its own definition within half a step") {
  std::mt19937 rng(19);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 256 * (1 + (int64_t)(rng() % 6));
    std::vector<float> x = random_floats(rng, n, trial % 5 == 0 ? 1e-3f : 10.0f);
    if (trial == 3) std::fill(x.begin(), x.begin() + 256, 0.0f);  // an all-zero block
    if (trial == 4) x[7] = 20.0f, x[100] = -20.0f;                  // a tie of opposite signs: the first one's sign
    if (trial == 5) x[9] = NAN, x[200] = INFINITY, x[201] = -INFINITY;  // count as 0
    std::vector<uint8_t> want(row_bytes(dtype::q8_k, n));
    cpu::ref_kernels().quantize_q8_k(x.data(), want.data(), n);
    for (const cpu::kernel_table *k : tiers()) {
      std::vector<uint8_t> got(want.size(), 0xee);
      k->quantize_q8_k(x.data(), got.data(), n);
      CAPTURE(k->isa);
      CAPTURE(trial);
      CHECK(got == want);
    }
    // the reference against the format's definition, in float64
    for (int64_t b = 0; b < n / 256; ++b) {
      cpu::block_q8_k blk;
      std::memcpy(&blk, want.data() + b * sizeof blk, sizeof blk);
      double amax = 0, signed_max = 0;
      for (int j = 0; j < 256; ++j) {
        const double v = std::isfinite(x[(size_t)(b * 256 + j)]) ? x[(size_t)(b * 256 + j)] : 0.0;
        if (std::fabs(v) > amax) amax = std::fabs(v), signed_max = v;
      }
      if (amax == 0) {
        CHECK(blk.d == 0.0f);
        continue;
      }
      CHECK(std::fabs(blk.d + signed_max / 127) <= 1e-6 * amax);
      for (int j = 0; j < 256; ++j) {
        const double v = std::isfinite(x[(size_t)(b * 256 + j)]) ? x[(size_t)(b * 256 + j)] : 0.0;
        CHECK(std::fabs(blk.qs[j] * (double)blk.d - v) <= 0.5001 * std::fabs(blk.d));
      }
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 16 * g; j < 16 * g + 16; ++j) sum += blk.qs[j];
        CHECK(blk.bsums[g] == sum);
      }
    }
  }
}

TEST_CASE("multi-row and gather dot kernels of every tier match float64 and their single-row kernel") {
  std::mt19937 rng(11);
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : {dtype::q8_0, dtype::q4_0})
      for (int trial = 0; trial < 30; ++trial) {
        const int64_t n = 32 * (1 + (int64_t)(rng() % 40));  // past one 16-block scale run, with tails
        const int nrows = (int)(rng() % 11);                  // empty, partial and whole groups of four
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> wf = random_floats(rng, n);
          data.emplace_back(row_bytes(t, n));
          quantize_row(t, wf.data(), data.back().data(), n);
        }
        for (auto &d : data) rows.push_back(d.data());
        const std::vector<float> xf = random_floats(rng, n, 2.0f);
        std::vector<uint8_t> x(row_bytes(dtype::q8_0, n));
        std::vector<float> xd((size_t)(n / 32));
        std::vector<int32_t> xb((size_t)(n / 32 * 8));
        k->quantize_q8_0(xf.data(), x.data(), xd.data(), xb.data(), n);
        const cpu::q8_aux aux = {xd.data(), xb.data()};
        std::vector<float> out((size_t)nrows + 1, -1.0f);
        k->of(t).dot_rows(n, rows.data(), nrows, x.data(), &aux, out.data());
        CHECK(out[(size_t)nrows] == -1.0f);  // nothing written past the rows
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        for (int r = 0; r < nrows; ++r) {
          double want = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            const double p = weight_at(t, data[(size_t)r], i) * weight_at(dtype::q8_0, x, i);
            want += p;
            mag += std::fabs(p);
          }
          CHECK(std::fabs(out[(size_t)r] - want) <= 2e-6 * mag + 1e-6);
          float single = 0, gathered = 0;
          k->of(t).dot(n, rows[(size_t)r], x.data(), 0, &aux, 1, &single);
          k->of(t).gather_dot(n, rows[(size_t)r], x.data(), 0, &aux, 1, &gathered);
          CHECK(out[(size_t)r] == single);  // the sparse and dense paths give the same value for a neuron
          CHECK(gathered == single);
        }
      }
}

TEST_CASE("row groups: the layout round-trips and every tier's one-token product matches float64 and the reference bit for bit") {
  std::mt19937 rng(17);
  int tested = 0;
  for (dtype t : {dtype::q4_0, dtype::q8_0})
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = 32 * (1 + (int64_t)(rng() % 40));
      // empty, a partial group, partial sets of the four groups a kernel walks together, several sets
      const int64_t nrows = trial == 0 ? 0 : trial == 1 ? 1 : (int64_t)(rng() % 200);
      const size_t rs = row_bytes(t, n);
      std::vector<uint8_t> rows((size_t)nrows * rs);
      for (int64_t r = 0; r < nrows; ++r) {
        const std::vector<float> wf = random_floats(rng, n);
        quantize_row(t, wf.data(), rows.data() + r * rs, n);
      }
      std::vector<uint8_t> groups(row_groups_bytes(t, nrows, n), 0xee);
      const size_t gb = row_group_bytes(t, n);
      for (int64_t r0 = 0; r0 < nrows; r0 += cpu::k_group_rows)
        pack_row_group(t, rows.data() + r0 * rs, rs, (int)std::min<int64_t>(cpu::k_group_rows, nrows - r0), n,
                       groups.data() + (r0 / cpu::k_group_rows) * gb);
      CAPTURE(type_name(t));
      CAPTURE(n);
      CAPTURE(nrows);
      std::vector<uint8_t> back(rs);
      for (int64_t r = 0; r < nrows; ++r) {
        unpack_row(t, groups.data(), n, r, back.data());
        CHECK(std::memcmp(back.data(), rows.data() + r * rs, rs) == 0);
      }
      const std::vector<float> xf = random_floats(rng, n, 2.0f);
      std::vector<uint8_t> x(row_bytes(dtype::q8_0, n));
      std::vector<float> xd((size_t)(n / 32));
      std::vector<int32_t> xb((size_t)(n / 32 * 8));
      cpu::ref_kernels().quantize_q8_0(xf.data(), x.data(), xd.data(), xb.data(), n);
      std::vector<int32_t> xs((size_t)(n / 32));
      cpu::sum_block_bias(xb.data(), n / 32, xs.data());
      const cpu::q8_aux aux = {xd.data(), xb.data(), xs.data()};
      std::vector<float> want((size_t)nrows);
      cpu::ref_kernels().of(t).gemv_groups(n, groups.data(), nrows, x.data(), &aux, want.data());
      for (int64_t r = 0; r < nrows; ++r) {  // the reference against float64 over the file's layout
        std::vector<uint8_t> row(rows.begin() + r * rs, rows.begin() + (r + 1) * rs);
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double p = weight_at(t, row, i) * weight_at(dtype::q8_0, x, i);
          exact += p;
          mag += std::fabs(p);
        }
        CHECK(std::fabs(want[(size_t)r] - exact) <= 2e-6 * mag + 1e-6);
      }
      for (const cpu::kernel_table *k : tiers()) {
        const cpu::gemv_groups_fn gemv = k->of(t).gemv_groups;
        if (!gemv) continue;
        CAPTURE(k->isa);
        std::vector<float> got((size_t)nrows + 1, -1.0f);
        gemv(n, groups.data(), nrows, x.data(), &aux, got.data());
        CHECK(got[(size_t)nrows] == -1.0f);  // nothing written past the rows
        got.resize((size_t)nrows);
        CHECK(got == want);
        // split at a group boundary, as the parallel loop splits: the same values
        const int64_t split = cpu::k_group_rows * (int64_t)(rng() % (nrows / cpu::k_group_rows + 1));
        std::vector<float> parts((size_t)nrows, -1.0f);
        gemv(n, groups.data(), split, x.data(), &aux, parts.data());
        gemv(n, groups.data() + (split / cpu::k_group_rows) * gb, nrows - split, x.data(), &aux, parts.data() + split);
        CHECK(parts == want);
        ++tested;
      }
    }
  CHECK(tested >= 80);  // the reference tier at least, both types
}

TEST_CASE("float-row one-token products of every tier match float64 and their tier's dot bit for bit") {
  std::mt19937 rng(23);
  int tested = 0;
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16})
      for (int trial = 0; trial < 30; ++trial) {
        const cpu::gemv_rows_fn gemv = k->of(t).gemv_rows;
        if (!gemv) continue;
        const int64_t n = 1 + (int64_t)(rng() % 300);  // every tail length of both vector widths
        // none, one, partial sets of the four rows read together, several sets
        const int64_t nrows = trial == 0 ? 0 : trial == 1 ? 1 : (int64_t)(rng() % 40);
        const size_t rs = row_bytes(t, n) + 2 * (rng() % 3);  // rows further apart than their bytes, too
        std::vector<uint8_t> rows((size_t)nrows * rs + 1, 0xee);
        for (int64_t r = 0; r < nrows; ++r) {
          const std::vector<float> wf = random_floats(rng, n);
          quantize_row(t, wf.data(), rows.data() + r * rs, n);
        }
        const std::vector<float> x = random_floats(rng, n, 2.0f);
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        std::vector<float> got((size_t)nrows + 1, -1.0f);
        gemv(n, rows.data(), rs, nrows, x.data(), got.data());
        CHECK(got[(size_t)nrows] == -1.0f);  // nothing written past the rows
        for (int64_t r = 0; r < nrows; ++r) {
          std::vector<uint8_t> row(rows.begin() + r * rs, rows.begin() + r * rs + row_bytes(t, n));
          double exact = 0, mag = 0;
          for (int64_t i = 0; i < n; ++i) {
            exact += weight_at(t, row, i) * x[(size_t)i];
            mag += std::fabs(weight_at(t, row, i) * x[(size_t)i]);
          }
          CHECK(std::fabs(got[(size_t)r] - exact) <= 2e-6 * mag + 1e-6);
          float one = 0;
          k->of(t).dot(n, row.data(), x.data(), 0, nullptr, 1, &one);
          CHECK(got[(size_t)r] == one);
        }
        ++tested;
      }
  // every tier above the reference has the kernel for the three types
  int simd = 0;
  for (const cpu::kernel_table *k : tiers()) simd += std::strcmp(k->isa, "ref") != 0;
  CHECK(tested == simd * 3 * 30);
}

TEST_CASE("prompt GEMM kernels of every tier match float64, and a value depends on neither batch nor panel place") {
  std::mt19937 rng(13);
  const dtype types[] = {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0};
  int tested = 0;
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : types) {
      const cpu::gemm_kernels &g = k->of(t).gemm;
      if (!g) continue;
      ++tested;
      for (int trial = 0; trial < 12; ++trial) {
        const bool q = t == dtype::q8_0 || t == dtype::q4_0;
        // float types: any length, past the kernels' 512-element chunks; block types: whole blocks
        const int64_t n = q ? 32 * (1 + (int64_t)(rng() % 40)) : 1 + (int64_t)(rng() % 1200);
        const int nrows = 1 + (int)(rng() % g.rows);     // partial and whole panels
        const int64_t ntok = 1 + (int64_t)(rng() % 29);  // every tile width and tail
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> wf = random_floats(rng, n);
          data.emplace_back(row_bytes(t, n));
          quantize_row(t, wf.data(), data.back().data(), n);
        }
        for (auto &d : data) rows.push_back(d.data());
        const size_t stride = q ? row_bytes(dtype::q8_0, n) + 34 : (size_t)(n + 3) * sizeof(float);
        std::vector<uint8_t> x(stride * (size_t)ntok);
        const int64_t nb = n / 32;
        std::vector<float> xd((size_t)(nb * ntok));
        std::vector<int32_t> xb((size_t)(nb * ntok * 8));
        for (int64_t c = 0; c < ntok; ++c) {
          const std::vector<float> xf = random_floats(rng, n, 2.0f);
          if (!q) {
            std::memcpy(x.data() + c * stride, xf.data(), (size_t)n * sizeof(float));
            continue;
          }
          k->quantize_q8_0(xf.data(), x.data() + c * stride, xd.data() + c * nb, xb.data() + c * nb * 8, n);
        }
        std::vector<cpu::q8_aux> aux((size_t)ntok);
        for (int64_t c = 0; c < ntok; ++c) aux[(size_t)c] = {xd.data() + c * nb, xb.data() + c * nb * 8};
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        CAPTURE(ntok);
        test::check_gemm(
            g, n, rows, x.data(), stride, ntok, [&](int64_t c) { return q ? &aux[(size_t)c] : nullptr; }, 2e-6,
            [&](int64_t c, int r, double *mag) {
              const std::vector<uint8_t> xc(x.begin() + (long)(c * stride), x.begin() + (long)(c * stride + stride));
              double want = 0;
              for (int64_t i = 0; i < n; ++i) {
                const double xv = q ? weight_at(dtype::q8_0, xc, i) : ((const float *)xc.data())[i];
                want += weight_at(t, data[(size_t)r], i) * xv;
                *mag += std::fabs(weight_at(t, data[(size_t)r], i) * xv);
              }
              return want;
            });
      }
    }
  // the SIMD tiers have GEMM kernels for every type here (the reference tier multiplies through dot)
  CHECK(tested == 5 * ((int)tiers().size() - 1));
}

TEST_CASE("column packers of every tier give neuron-major rows' decoded values in the F32 GEMM's panel layout") {
  std::mt19937 rng(17);
  const dtype types[] = {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0};
  int tested = 0;
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : types) {
      const auto pack = k->of(t).pack_columns;
      const int R = k->of(dtype::f32).gemm.rows;
      if (!pack) continue;
      ++tested;
      for (int trial = 0; trial < 10; ++trial) {
        const bool q = t == dtype::q8_0 || t == dtype::q4_0;
        const int64_t d = q ? 32 * (1 + (int64_t)(rng() % 6)) : 1 + (int64_t)(rng() % 200);  // float rows: any width
        const int64_t K = 1 + (int64_t)(rng() % 40);
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        for (int64_t j = 0; j < K; ++j) {
          const std::vector<float> wf = random_floats(rng, d);
          data.emplace_back(row_bytes(t, d));
          quantize_row(t, wf.data(), data.back().data(), d);
        }
        for (auto &v : data) rows.push_back(v.data());
        const int64_t c0 = R * (int64_t)(rng() % (size_t)((d + R - 1) / R));
        const int nc = (int)std::min<int64_t>(R, d - c0);
        std::vector<float> panel((size_t)(K * R), -7.0f);
        pack(K, rows.data(), c0, nc, panel.data());
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(d);
        CAPTURE(c0);
        for (int64_t j = 0; j < K; ++j)
          for (int r = 0; r < R; ++r)  // block values are small integers times an fp16 scale: exact in float
            CHECK(panel[(size_t)(j * R + r)] == (r < nc ? (float)weight_at(t, data[(size_t)j], c0 + r) : 0.0f));
      }
    }
  CHECK(tested == 5 * ((int)tiers().size() - 1));
}

TEST_CASE("row axpy (the sparse down projection) of every tier matches float64") {
  std::mt19937 rng(13);
  const dtype types[] = {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0};
  for (const cpu::kernel_table *k : tiers())
    for (dtype t : types)
      for (int trial = 0; trial < 30; ++trial) {
        const bool q = t == dtype::q8_0 || t == dtype::q4_0;
        const int64_t n = q ? 32 * (1 + (int64_t)(rng() % 40)) : 1 + (int64_t)(rng() % 200);
        const int nrows = (int)(rng() % 10);  // 0 to 9 rows: empty, partial and whole groups of four
        std::vector<std::vector<uint8_t>> data;
        std::vector<const void *> rows;
        std::vector<float> coef;
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> wf = random_floats(rng, n);
          data.emplace_back(row_bytes(t, n));
          quantize_row(t, wf.data(), data.back().data(), n);
          coef.push_back(random_floats(rng, 1, 3.0f)[0]);
        }
        for (auto &d : data) rows.push_back(d.data());
        std::vector<float> y = random_floats(rng, n);
        std::vector<double> want(y.begin(), y.end());
        for (int r = 0; r < nrows; ++r)
          for (int64_t i = 0; i < n; ++i) want[(size_t)i] += coef[(size_t)r] * weight_at(t, data[(size_t)r], i);
        const cpu::axpy_rows_fn fn = k->of(t).axpy_rows;
        fn(n, rows.data(), coef.data(), nrows, y.data());
        CAPTURE(k->isa);
        CAPTURE(type_name(t));
        CAPTURE(n);
        CAPTURE(nrows);
        for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[(size_t)i] - want[(size_t)i]) <= 1e-5 * (1 + std::fabs(want[(size_t)i])));
      }
}

TEST_CASE("axpy of every tier matches float64, tails included") {
  std::mt19937 rng(5);
  for (const cpu::kernel_table *k : tiers())
    for (int trial = 0; trial < 30; ++trial) {
      const int64_t n = 1 + (int64_t)(rng() % 100);
      const std::vector<float> x = random_floats(rng, n);
      std::vector<float> y = random_floats(rng, n);
      const std::vector<float> y0 = y;
      k->axpy_f32(n, 0.75f, x.data(), y.data());
      for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[(size_t)i] - (y0[(size_t)i] + 0.75 * x[(size_t)i])) < 1e-6);
    }
}

// Regression: the AVX2 tier is compiled with -mf16c, but the dispatcher did not ask for F16C.
TEST_CASE("the dispatcher chooses a tier only where the CPU has every feature it was compiled for") {
  cpu::cpu_features f;
  f.avx2 = f.fma = true;  // no F16C
  CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "ref");
  f.f16c = true;
  if (cpu::avx2_kernels()) CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "avx2");
  f.avx512f = f.avx512bw = f.avx512vl = true;  // no VNNI
  if (cpu::avx2_kernels()) CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "avx2");
  f.avx512vnni = true;
  if (cpu::avx512_kernels()) CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "avx512");
  if (cpu::avx512_kernels()) CHECK(std::string(cpu::choose_tier(f, "avx2").isa) == "avx2");
  CHECK(std::string(cpu::choose_tier(f, "ref").isa) == "ref");
  f.fma = false;
  CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "ref");
}

TEST_CASE("the AArch64 dispatcher takes dotprod only where the CPU reports it, and HEARTH_FORCE_ISA caps it") {
  cpu::cpu_features f;
  CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "ref");
  f.neon = true;
  if (cpu::neon_kernels()) CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "neon");
  f.dotprod = true;
  if (cpu::neon_dotprod_kernels()) CHECK(std::string(cpu::choose_tier(f, nullptr).isa) == "dotprod");
  if (cpu::neon_kernels()) CHECK(std::string(cpu::choose_tier(f, "neon").isa) == "neon");
  CHECK(std::string(cpu::choose_tier(f, "ref").isa) == "ref");
  // each architecture's build has its own tiers and no other's
#if defined(__aarch64__)
  CHECK(cpu::neon_kernels() != nullptr);
  CHECK(cpu::avx2_kernels() == nullptr);
#elif defined(__x86_64__)
  CHECK(cpu::neon_kernels() == nullptr);
  CHECK(cpu::neon_dotprod_kernels() == nullptr);
  CHECK(cpu::avx2_kernels() != nullptr);
#endif
}
