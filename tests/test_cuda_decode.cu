// The CUDA kernels' element decoder (weight_at in kernels/cuda/common.cuh) against the CPU decoders
// (dequantize_row, which test_quants checks against llama.cpp), for every type the CUDA kernels read. It runs on
// the host, so CUDA builds check the device-side layouts without a GPU.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../kernels/cuda/common.cuh"
#include "dtype.h"

using namespace hearth;

template <uint32_t T>
int check(std::mt19937 &rng) {
  const dtype t = (dtype)T;
  const int64_t n = traits(t).block_elems * 3 * (traits(t).block_elems == 1 ? 64 : 1) + (traits(t).block_elems == 1 ? 5 : 0);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x((size_t)n), want((size_t)n);
  for (float &v : x) v = g(rng);
  std::vector<uint8_t> row(row_bytes(t, n));
  quantize_row(t, x.data(), row.data(), n);
  dequantize_row(t, row.data(), want.data(), n);
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float got = cuda::weight_at<T>(row.data(), i);
    if (!(std::fabs(got - want[(size_t)i]) <= 1e-6f * (1 + std::fabs(want[(size_t)i])))) {
      if (bad++ < 5) std::fprintf(stderr, "%s element %lld: weight_at %g, dequantize_row %g\n", type_name(t).c_str(), (long long)i, got, want[(size_t)i]);
    }
  }
  return bad;
}

int main() {
  std::mt19937 rng(5);
  int bad = 0, types = 0;
  auto one = [&](dtype t) -> bool {
    ++types;
    HEARTH_CUDA_DISPATCH((uint32_t)t, bad += check<T>(rng));
  };
  for (uint32_t id = 0; id < k_dtype_slots; ++id)
    if (traits((dtype)id).cuda && !one((dtype)id)) {
      std::fprintf(stderr, "%s: traits say the CUDA kernels read it, but HEARTH_CUDA_DISPATCH has no case\n", type_name((dtype)id).c_str());
      ++bad;
    }
  std::printf("CUDA element decoder: %d types, %d mismatches\n", types, bad);
  return bad ? 1 : 0;
}
