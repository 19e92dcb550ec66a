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

// A block's values with non-finite ones replaced by 0, so NaN or infinity cannot poison the block's scales.
inline void finite_copy(const float *src, float *dst, int n) {
  for (int j = 0; j < n; ++j) dst[j] = std::isfinite(src[j]) ? src[j] : 0.0f;
}

}  // namespace hearth::quants
