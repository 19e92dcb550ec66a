// An accelerator as the hybrid executor sees it: device memory, pinned host staging, in-order streams of
// operators, and events a host thread can wait on (the barrier between a GPU node and the CPU node that needs
// its result; never a device-wide sync). Two implementations: CUDA (kernels/cuda/cuda_device.cu) and an emulated
// device whose "VRAM" is host memory and whose stream is a worker thread running the CPU operators in order
// (lib/emulated_device.cpp). The emulated one lets the hybrid graph, placement at load, the packed hot tables
// and every transfer be tested on machines without a GPU; it is built into the static library the tests and the
// CLI link (never into libhearth.so) and chosen explicitly (set_device_opener, the CLI's --emulate-gpu).
//
// Every enqueue returns nothing and never throws for device errors: the stream remembers its first failure and
// `wait` / `sync` report it (as hearth::error). Pointers given to operators are device pointers unless named
// host_*; host staging given to copies must come from alloc_pinned.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <algorithm>
#include <functional>

#include "../kernels/cuda/ops.h"

#include "gguf.h"
#include "model.h"

namespace hearth {

// A weight matrix in device memory, rows of `cols` elements, each row_size bytes, contiguous.
struct dev_matrix {
  const void *data = nullptr;
  dtype type = dtype::f32;
  int64_t rows = 0, cols = 0;
  size_t row_size = 0;
  explicit operator bool() const { return data != nullptr; }
  size_t bytes() const { return row_size * (size_t)rows; }
};

class device_event {
 public:
  virtual ~device_event() = default;
};

class device_stream {
 public:
  virtual ~device_stream() = default;

  // ---- transfers (asynchronous, in stream order) ----
  virtual void upload(void *dst, const void *host_src, size_t bytes) = 0;
  virtual void download(void *host_dst, const void *src, size_t bytes) = 0;
  virtual void copy(void *dst, const void *src, size_t bytes) = 0;  // device to device

  // ---- dense operators, n tokens laid out token-major ----
  // y[t][r] = W.row(r) . x[t]
  virtual void matmul(const dev_matrix &w, const float *x, int64_t n, float *y) = 0;
  // RMS or LayerNorm (bias may be null) of n rows of `width`
  virtual void norm(norm_kind kind, const float *x, const float *weight, const float *bias, int64_t n, int64_t width,
                    float eps, float *y) = 0;
  // RMS norm of each head (head_dim values, head_dim weights), in place
  virtual void head_norm(float *x, const float *weight, int64_t n, int32_t n_heads, int32_t head_dim, float eps) = 0;
  virtual void add_bias(float *y, const float *b, int64_t n, int64_t width) = 0;  // y[t] += b
  // RoPE (ops.h) for positions pos0, pos0 + 1, ... (a batch is consecutive)
  virtual void rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, const rope_spec &r, int32_t pos0) = 0;
  // KV cache rows pos0 .. pos0 + n - 1 (each `width` values, in the device's KV type) = src (n x width floats).
  virtual void store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width) = 0;
  // Causal attention of n queries at positions pos0.. over the cache rows 0..pos0+t (caches [pos][kv width]), as
  // hearth::attend (ops.h): its scale, soft cap and window.
  virtual void attend(const float *q, const void *kcache, const void *vcache, int64_t n, int32_t pos0,
                      const attention_spec &a, float *out) = 0;
  virtual void add(float *x, const float *y, int64_t count) = 0;  // x += y
  virtual void add_scaled(float *x, const float *y, float w, int64_t count) = 0;  // x += w y (an expert's weight)
  virtual void zero(float *x, int64_t count) = 0;
  virtual void relu(float *x, int64_t count) = 0;
  // up = ffn_act(form, gate, up) as in ffn_activate (gate unused without a gate)
  virtual void activate(const ffn_form &form, const float *gate, float *up, int64_t count) = 0;

  // ---- neuron-aware operators over a GPU neuron table of K packed rows ----
  // a[t][j] = act(gate.row(j) . xn[t], up.row(j) . xn[t]) for the hot rows j that are active for token t, else 0.
  // Row j is active for token t when logits is null (dense) or logits[t * n_ff + orig[j]] >= threshold. Thread
  // blocks take batches of rows and skip rows no token needs; no synchronisation between blocks.
  // Biases (bgate, bup: K values in compact row order) may be null.
  virtual void hot_gate_up(const dev_matrix &gate, const dev_matrix &up, const float *bgate, const float *bup,
                           const ffn_form &form, const float *xn, int64_t n, const float *logits, int32_t n_ff,
                           const int32_t *orig, float threshold, float *a) = 0;
  // y[t] = sum_j a[t][j] * down_t.row(j) (rows with a zero coefficient skipped); deterministic (fixed parts,
  // reduced in order), no atomics. scratch holds hot_down_scratch(n, cols) floats.
  virtual void hot_down(const dev_matrix &down_t, const float *a, int64_t n, float *scratch, float *y) = 0;
  // Per token t: the ascending original ids i < n_ff with logits[t][i] >= threshold and row_of[i] < 0 (the
  // CPU's active neurons), written to lists[t * n_ff ...], their number to counts[t]; the number of active GPU
  // neurons (row_of[i] >= 0) to counts[n + t].
  virtual void cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of,
                          int32_t *lists, int32_t *counts) = 0;

  // ---- ordering ----
  virtual std::unique_ptr<device_event> record() = 0;
  // Blocks the calling host thread until the event's work is done; throws hearth::error on a device failure.
  virtual void wait(device_event &e) = 0;
  virtual void sync() = 0;  // the whole stream; throws like wait
};

// The fixed parts hot_down splits its rows into and the floats of scratch their partial sums take have one
// definition, in kernels/cuda/ops.h (the CUDA kernel's launch uses it too).
using cuda::hot_down_parts;
using cuda::hot_down_scratch;
// What a buffer for batches of up to n_batch tokens needs (one token takes more parts than a few).
inline constexpr size_t hot_down_scratch_max(int64_t n_batch, int64_t cols) {
  size_t most = 0;
  for (int64_t n = 1; n <= n_batch && n <= 4; ++n) most = std::max(most, hot_down_scratch(n, cols));
  return std::max(most, hot_down_scratch(n_batch, cols));
}

class device {
 public:
  virtual ~device() = default;
  virtual std::string name() const = 0;
  virtual size_t free_bytes() const = 0;
  virtual void *alloc(size_t bytes) = 0;  // nullptr on failure (never throws for lack of memory)
  virtual void release(void *p) = 0;
  virtual void *alloc_pinned(size_t bytes) = 0;  // page-locked host memory; nullptr on failure
  virtual void release_pinned(void *p) = 0;
  virtual bool upload_now(void *dst, const void *host_src, size_t bytes) = 0;  // synchronous, any host memory
  virtual std::unique_ptr<device_stream> make_stream() = 0;
  // The device reads weights of this type (the CUDA device: dtype_traits::cuda; the emulated one: what the CPU
  // computes). Placement keeps other tensors on the CPU.
  virtual bool supports(dtype t) const = 0;
  // Bytes per value of a KV cache on this device: 2 on CUDA (F16, as llama.cpp keeps it), 4 on the emulated device.
  virtual size_t kv_bytes() const = 0;
  // Device-to-device copy bandwidth in bytes/s over a buffer of `bytes` (the bound the sparse kernels are
  // compared with); 0 if it cannot be measured.
  virtual double copy_bandwidth(size_t bytes) = 0;
};

// The device to use: the opener set with set_device_opener if any, else the first CUDA device, or nullptr (no
// driver, no device, a build without CUDA), with the reason in *why.
std::unique_ptr<device> open_device(std::string *why);
using device_opener = std::function<std::unique_ptr<device>(std::string *why)>;
// Replaces CUDA as the device open_device() gives (the CLI's --emulate-gpu, tests); empty: CUDA again. Not in the
// C ABI: nothing outside the process's own C++ code can select another device.
void set_device_opener(device_opener opener);
std::unique_ptr<device> make_cuda_device(std::string *why);  // nullptr in builds without CUDA
// The emulated device (lib/emulated_device.cpp): in the static library only.
std::unique_ptr<device> make_emulated_device(size_t capacity_bytes, int32_t delay_us);

// Device or pinned host memory that frees itself: device_buffer and pinned_buffer.
template <void *(device::*Alloc)(size_t), void (device::*Release)(void *)>
class owned_memory {
 public:
  owned_memory() = default;
  owned_memory(device &d, size_t bytes) : d_(&d), p_((d.*Alloc)(bytes)), bytes_(bytes) {}
  owned_memory(owned_memory &&o) noexcept : d_(o.d_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  owned_memory &operator=(owned_memory &&o) noexcept {
    std::swap(d_, o.d_), std::swap(p_, o.p_), std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~owned_memory() {
    if (p_) (d_->*Release)(p_);
  }
  template <class T = void>
  T *get() const { return (T *)p_; }
  size_t bytes() const { return bytes_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  device *d_ = nullptr;
  void *p_ = nullptr;
  size_t bytes_ = 0;
};
using device_buffer = owned_memory<&device::alloc, &device::release>;
using pinned_buffer = owned_memory<&device::alloc_pinned, &device::release_pinned>;

}  // namespace hearth
