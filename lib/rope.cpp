#include "rope.h"

#include <algorithm>
#include <cmath>

namespace hearth {

rope_spec make_rope(const rope_scaling &s) {
  rope_spec r;
  r.kind = s.kind;
  r.n_rot = s.n_rot;
  if (s.kind == rope_kind::none || s.n_rot <= 0) return r;
  const int32_t pairs = s.n_rot / 2;
  r.freq.resize((size_t)pairs);
  // YaRN's correction range in pairs: the dims whose wavelength n_ctx_orig / rotations lies between the fast and
  // slow boundaries (ggml_rope_yarn_corr_dims: floor and ceil, clamped to the dims).
  double lo = 0, hi = 0;
  if (s.yarn) {
    auto corr_dim = [&](double rotations) {
      return s.n_rot * std::log((double)s.n_ctx_orig / (rotations * 2 * M_PI)) / (2 * std::log(s.base));
    };
    lo = std::max(0.0, std::floor(corr_dim(s.beta_fast)));
    hi = std::min((double)(s.n_rot - 1), std::ceil(corr_dim(s.beta_slow)));
  }
  for (int32_t i = 0; i < pairs; ++i) {
    double f = std::pow(s.base, -2.0 * i / s.n_rot);
    if (!s.factors.empty()) f /= s.factors[(size_t)i];
    double scale = s.freq_scale;  // linear interpolation of every pair
    if (s.yarn) {
      // ramp 1 keeps the original angle (high frequencies), 0 interpolates (low frequencies)
      const double y = (i - lo) / std::max(0.001, hi - lo);
      const double keep = 1.0 - std::min(1.0, std::max(0.0, y));
      scale = s.freq_scale * (1 - keep) + keep;
    }
    r.freq[(size_t)i] = f * scale;
  }
  r.mscale = s.attn_factor;
  if (s.yarn) r.mscale *= 1.0 + 0.1 * std::log(1.0 / s.freq_scale);
  return r;
}

void rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, const rope_spec &r, const int32_t *pos) {
  if (!r.active()) return;
  const int32_t half = r.n_rot / 2;
  std::vector<float> cs((size_t)r.n_rot);  // cos, sin of pair i at 2i, 2i + 1
  for (int64_t t = 0; t < n; ++t) {
    for (int32_t i = 0; i < half; ++i) {
      const double theta = (double)pos[t] * r.freq[(size_t)i];
      cs[(size_t)(2 * i)] = (float)(std::cos(theta) * r.mscale);
      cs[(size_t)(2 * i + 1)] = (float)(std::sin(theta) * r.mscale);
    }
    for (int32_t h = 0; h < n_heads; ++h) {
      float *v = x + (t * n_heads + h) * head_dim;
      for (int32_t i = 0; i < half; ++i) {
        const float c = cs[(size_t)(2 * i)], s = cs[(size_t)(2 * i + 1)];
        // normal: the pair (2i, 2i+1); NeoX: (i, i + n_rot/2)
        const int32_t a = r.kind == rope_kind::normal ? 2 * i : i, b = r.kind == rope_kind::normal ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}

}  // namespace hearth
