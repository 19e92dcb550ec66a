// What every prompt GEMM (gemm_kernels in kernels/cpu/kernels.h) must give, checked the same way for each weight
// format: y of the rows against ntok packed activations equals want(token, row) within rel times the products'
// magnitude (plus 1e-6); the margin past the rows stays untouched; the last token run alone and the rows packed
// in reverse order give the same values bit for bit (a value depends on neither the batch nor the panel place).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "../kernels/cpu/kernels.h"

namespace hearth::test {

// x: ntok activation vectors stride bytes apart; aux_from(t) their side data from token t on (nullptr where the
// format has none); want(t, r, &mag): the float64 product of row r and token t, and the sum of its terms'
// magnitudes.
inline void check_gemm(const cpu::gemm_kernels &g, int64_t n, const std::vector<const void *> &rows, const uint8_t *x,
                       size_t stride, int64_t ntok, const std::function<const cpu::q8_aux *(int64_t)> &aux_from,
                       double rel, const std::function<double(int64_t, int, double *)> &want) {
  const int nrows = (int)rows.size();
  const std::vector<const void *> reversed(rows.rbegin(), rows.rend());
  const size_t ys = (size_t)g.rows + 3;  // rows of y apart, with a margin that must stay untouched
  std::vector<uint8_t> panel(g.panel_bytes(n)), packed(g.tokens_bytes(n, ntok)), packed1(g.tokens_bytes(n, 1));
  std::vector<float> y(ys * (size_t)ntok, -7.0f), yr(y), y1(ys, -7.0f);
  g.pack(n, rows.data(), nrows, panel.data());
  g.pack_tokens(n, x, stride, aux_from(0), ntok, packed.data());
  g.run(n, panel.data(), nrows, packed.data(), ntok, y.data(), ys);
  for (int64_t c = 0; c < ntok; ++c) {
    for (int r = 0; r < nrows; ++r) {
      double mag = 0;
      const double w = want(c, r, &mag);
      CHECK(std::fabs(y[(size_t)c * ys + (size_t)r] - w) <= rel * mag + 1e-6);
    }
    for (size_t r = (size_t)nrows; r < ys; ++r) CHECK(y[(size_t)c * ys + r] == -7.0f);
  }
  const int64_t last = ntok - 1;
  g.pack_tokens(n, x + last * stride, stride, aux_from(last), 1, packed1.data());
  g.run(n, panel.data(), nrows, packed1.data(), 1, y1.data(), ys);
  g.pack(n, reversed.data(), nrows, panel.data());
  g.run(n, panel.data(), nrows, packed.data(), ntok, yr.data(), ys);
  for (int r = 0; r < nrows; ++r) {
    CHECK(y1[(size_t)r] == y[(size_t)last * ys + (size_t)r]);
    for (int64_t c = 0; c < ntok; ++c) CHECK(yr[(size_t)c * ys + (size_t)(nrows - 1 - r)] == y[(size_t)c * ys + (size_t)r]);
  }
}

}  // namespace hearth::test
