// The neuron-aware CUDA kernels against float64 loops over the same F16 values, random sizes with tails. Built
// only with CUDA; exits 77 (skip) without a device.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../kernels/cpu/fp16.h"
#include "../kernels/cuda/neuron_kernels.h"
#include "gpu.h"
#include "quant.h"

using namespace hearth;

namespace {
int failures = 0, checks = 0;
void expect(bool ok, const char *what, int trial) {
  ++checks;
  if (!ok) {
    ++failures;
    if (failures < 20) std::printf("FAIL %s (trial %d)\n", what, trial);
  }
}
template <class T>
T *to_device(const std::vector<T> &v) {
  T *p = (T *)gpu::device_alloc(v.size() * sizeof(T) + 16);
  if (p && !v.empty()) gpu::copy_to_device(p, v.data(), v.size() * sizeof(T));
  return p;
}
template <class T>
std::vector<T> to_host(const T *p, size_t n) {
  std::vector<T> v(n);
  if (n) gpu::copy_to_host(v.data(), p, n * sizeof(T));
  return v;
}
}  // namespace

int main() {
  if (gpu_device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int trial = 0; trial < 40; ++trial) {
    const int32_t n = 1 + (int32_t)(rng() % 700), rows = 1 + (int32_t)(rng() % 300);
    const size_t stride = (size_t)n + (rng() % 3);  // padded rows too
    std::vector<uint16_t> W(stride * (size_t)rows);
    for (auto &h : W) h = f32_to_fp16(u(rng));
    std::vector<int32_t> idx;
    for (int32_t r = 0; r < rows; ++r)
      if (rng() % 3 == 0) idx.push_back(r);  // ascending, about a third active (possibly none)
    const int32_t K = (int32_t)idx.size();
    std::vector<float> x((size_t)n), a((size_t)K);
    for (float &v : x) v = u(rng);
    for (float &v : a) v = rng() % 5 == 0 ? 0.0f : u(rng);
    auto *dW = to_device(W);
    auto *didx = to_device(idx);
    auto *dx = to_device(x);
    auto *da = to_device(a);
    auto *dout = (float *)gpu::device_alloc((size_t)K * 4 + 16);
    expect(gpu::gather_dot_f16(dW, stride, didx, K, dx, n, dout, nullptr) && gpu::synchronize(), "gather_dot_f16 ran", trial);
    const std::vector<float> got = to_host(dout, (size_t)K);
    for (int32_t j = 0; j < K; ++j) {
      double want = 0, mag = 0;
      for (int32_t i = 0; i < n; ++i) {
        const double p = (double)hearth_fp16_to_f32(W[(size_t)idx[(size_t)j] * stride + i]) * x[(size_t)i];
        want += p, mag += std::fabs(p);
      }
      expect(std::fabs(got[(size_t)j] - want) <= 1e-5 * mag + 1e-6, "gather_dot_f16 value", trial);
    }
    // axpy over the active rows into d = n columns
    const int32_t parts = 1 + (int32_t)(rng() % 16);
    auto *dpart = (float *)gpu::device_alloc((size_t)parts * n * 4);
    auto *dy = (float *)gpu::device_alloc((size_t)n * 4);
    expect(gpu::axpy_rows_f16(dW, stride, didx, da, K, n, dpart, parts, dy, nullptr) && gpu::synchronize(), "axpy ran", trial);
    const std::vector<float> y = to_host(dy, (size_t)n);
    for (int32_t c = 0; c < n; ++c) {
      double want = 0, mag = 0;
      for (int32_t j = 0; j < K; ++j) {
        const double p = (double)a[(size_t)j] * hearth_fp16_to_f32(W[(size_t)idx[(size_t)j] * stride + c]);
        want += p, mag += std::fabs(p);
      }
      expect(std::fabs(y[(size_t)c] - want) <= 1e-5 * mag + 1e-6, "axpy_rows_f16 value", trial);
    }
    // the same again gives the same bits (no atomics)
    expect(gpu::axpy_rows_f16(dW, stride, didx, da, K, n, dpart, parts, dy, nullptr) && gpu::synchronize(), "axpy reran", trial);
    expect(to_host(dy, (size_t)n) == y, "axpy_rows_f16 deterministic", trial);
    // compaction of a logit vector
    std::vector<float> logits((size_t)rows);
    for (float &v : logits) v = u(rng);
    const float thr = u(rng) * 0.5f;
    auto *dl = to_device(logits);
    auto *dlist = (int32_t *)gpu::device_alloc((size_t)rows * 4);
    auto *dcount = (int32_t *)gpu::device_alloc(4);
    expect(gpu::compact_mask(dl, rows, thr, dlist, dcount, nullptr) && gpu::synchronize(), "compact ran", trial);
    const int32_t count = to_host(dcount, 1)[0];
    std::vector<int32_t> want;
    for (int32_t i = 0; i < rows; ++i)
      if (logits[(size_t)i] >= thr) want.push_back(i);
    expect(count == (int32_t)want.size() && to_host(dlist, (size_t)count) == want, "compact_mask list", trial);
    for (void *p : {(void *)dW, (void *)didx, (void *)dx, (void *)da, (void *)dout, (void *)dpart, (void *)dy, (void *)dl,
                    (void *)dlist, (void *)dcount})
      gpu::device_free(p);
  }
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures ? 1 : 0;
}
