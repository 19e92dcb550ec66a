// Helpers of the reference encoders (quants.cpp, kquants.cpp), with llama.cpp's exact arithmetic.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace hearth::quants {

// Groups whose largest magnitude is below this are all zero (llama.cpp's GROUP_MAX_EPS).
inline constexpr float k_group_max_eps = 1e-15f;

// Round to nearest, ties to even, by the float-addition trick llama.cpp uses (|v| <= 4194303). Bit-identical
// results need the same rounding, not merely a correct one.
inline int nearest_int(float v) {
  const float t = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &t, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// The value of largest magnitude with its sign (the first one on ties), as llama.cpp picks it; *amax its magnitude.
inline float signed_absmax(const float *x, int n, float *amax = nullptr) {
  float a = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > a) {
      a = std::fabs(x[i]);
      max = x[i];
    }
  if (amax) *amax = a;
  return max;
}

// The smallest and largest value of a block.
inline void min_max(const float *x, int n, float *mn, float *mx) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *mn = lo, *mx = hi;
}

// A block's values with non-finite ones replaced by 0, so NaN or infinity cannot poison the block's scales.
inline void finite_copy(const float *src, float *dst, int n) {
  for (int j = 0; j < n; ++j) dst[j] = std::isfinite(src[j]) ? src[j] : 0.0f;
}

}  // namespace hearth::quants
