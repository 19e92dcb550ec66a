// The CUDA device behind lib/device.h: cudaMalloc'd VRAM, cudaMallocHost'd staging, one cudaStream_t per stream,
// events recorded on it and waited for with cudaEventSynchronize (the waiting host thread only, never the whole
// device). Every CUDA error is kept as the stream's first failure and reported by the next wait, so a bad launch
// becomes a hearth::error in the session, never an abort. Device discovery failures (no driver, no device) mean
// "run on the CPU".
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <vector>
#include <string>

#include "../../lib/device.h"
#include "../../lib/error.h"
#include "../../lib/gpu.h"
#include "ops.h"

namespace hearth {
namespace {

// The kernels' activation codes are hearth's activation values (kernels/cuda/ops.h).
static_assert(cuda::act_silu == (int32_t)activation::silu && cuda::act_gelu == (int32_t)activation::gelu &&
              cuda::act_relu == (int32_t)activation::relu && cuda::act_relu_sq == (int32_t)activation::relu_sq);
int32_t code(const ffn_form &f) { return cuda::act_code((int32_t)f.act, f.gated, f.act_on_up); }

// Events are recorded a few times per layer and token: they come from a pool instead of cudaEventCreate each time.
// The pool outlives the stream as long as any of its events does.
struct event_pool {
  std::mutex mu;
  std::vector<cudaEvent_t> free;
  ~event_pool() {
    for (cudaEvent_t e : free) cudaEventDestroy(e);
  }
  cudaEvent_t take() {
    {
      std::lock_guard<std::mutex> g(mu);
      if (!free.empty()) {
        cudaEvent_t e = free.back();
        free.pop_back();
        return e;
      }
    }
    cudaEvent_t e = nullptr;
    return cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess ? e : nullptr;
  }
  void give(cudaEvent_t e) {
    std::lock_guard<std::mutex> g(mu);
    free.push_back(e);
  }
};

struct cuda_event final : device_event {
  explicit cuda_event(std::shared_ptr<event_pool> p) : pool(std::move(p)), e(pool->take()) {}
  ~cuda_event() override {
    if (e) pool->give(e);  // nobody waits on it any more; recording it again is fine even if it is pending
  }
  std::shared_ptr<event_pool> pool;
  cudaEvent_t e;
};

class cuda_stream final : public device_stream {
 public:
  cuda_stream() {
    if (cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking) != cudaSuccess) note("cudaStreamCreate", cudaGetLastError());
  }
  ~cuda_stream() override {
    if (s_) {
      cudaStreamSynchronize(s_);
      cudaStreamDestroy(s_);
    }
  }

  void upload(void *dst, const void *src, size_t bytes) override {
    check("upload", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_));
  }
  void download(void *dst, const void *src, size_t bytes) override {
    check("download", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s_));
  }
  void copy(void *dst, const void *src, size_t bytes) override {
    check("copy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s_));
  }
  void matmul(const dev_matrix &w, const float *x, int64_t n, float *y) override {
    launched("matmul", cuda::matmul(w.data, (uint32_t)w.type, w.rows, w.cols, w.row_size, x, n, y, s_));
  }
  void norm(norm_kind kind, const float *x, const float *w, const float *b, int64_t n, int64_t width, float eps,
            float *y) override {
    if (kind == norm_kind::rms) launched("rmsnorm", cuda::rmsnorm(x, w, n, width, eps, y, s_));
    else launched("layernorm", cuda::layernorm(x, w, b, n, width, eps, y, s_));
  }
  void head_norm(float *x, const float *w, int64_t n, int32_t heads, int32_t hd, float eps) override {
    // every head is a row of head_dim values under the same weights; in place (each block reads its row first)
    launched("head_norm", cuda::rmsnorm(x, w, n * heads, hd, eps, x, s_));
  }
  void add_bias(float *y, const float *b, int64_t n, int64_t width) override {
    launched("add_bias", cuda::add_bias(y, b, n, width, s_));
  }
  void rope(float *x, int64_t n, int32_t heads, int32_t hd, const rope_spec &r, int32_t pos0) override {
    if (!r.active()) return;
    launched("rope", cuda::rope(x, n, heads, hd, r.n_rot, r.freq.data(), r.mscale, r.kind == rope_kind::neox, pos0, s_));
  }
  void store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width) override {
    launched("store_kv", cuda::store_kv(cache, src, n, pos0, width, s_));
  }
  void attend(const float *q, const void *kc, const void *vc, int64_t n, int32_t pos0, const attention_spec &a,
              float *out) override {
    launched("attend", cuda::attend(q, kc, vc, n, pos0, a.n_head, a.n_head_kv, a.head_dim, a.scale, a.softcap, a.window, out, s_));
  }
  void add(float *x, const float *y, int64_t count) override { launched("add", cuda::add(x, y, count, s_)); }
  void relu(float *x, int64_t count) override { launched("relu", cuda::relu(x, count, s_)); }
  void add_scaled(float *x, const float *y, float w, int64_t count) override {
    launched("add_scaled", cuda::add_scaled(x, y, w, count, s_));
  }
  void zero(float *x, int64_t count) override { launched("zero", cuda::zero(x, count, s_)); }
  void activate(const ffn_form &form, const float *gate, float *up, int64_t count) override {
    launched("activate", cuda::activate(code(form), gate, up, count, s_));
  }
  void hot_gate_up(const dev_matrix &gate, const dev_matrix &up, const float *bgate, const float *bup, const ffn_form &form,
                   const float *xn, int64_t n, const float *logits, int32_t n_ff, const int32_t *orig, float threshold,
                   float *a) override {
    if (gate && (gate.type != up.type || gate.row_size != up.row_size)) {
      note("hot_gate_up", cudaErrorInvalidValue);  // offload keeps gate and up of one type
      return;
    }
    launched("hot_gate_up", cuda::hot_gate_up(gate.data, up.data, (uint32_t)up.type, up.rows, up.cols, up.row_size, code(form),
                                              bgate, bup, xn, n, logits, n_ff, orig, threshold, a, s_));
  }
  void hot_down(const dev_matrix &down_t, const float *a, int64_t n, float *scratch, float *y) override {
    launched("hot_down", cuda::hot_down(down_t.data, (uint32_t)down_t.type, down_t.rows, down_t.cols, down_t.row_size, a, n,
                                        scratch, y, s_));
  }
  void cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of, int32_t *lists,
                  int32_t *counts) override {
    launched("cold_lists", cuda::cold_lists(logits, n, n_ff, threshold, row_of, lists, counts, s_));
  }

  std::unique_ptr<device_event> record() override {
    auto e = std::make_unique<cuda_event>(events_);
    if (!e->e) note("cudaEventCreate", cudaGetLastError());
    else check("cudaEventRecord", cudaEventRecord(e->e, s_));
    return e;
  }
  void wait(device_event &ev) override {
    auto &e = static_cast<cuda_event &>(ev);
    if (e.e) check("cudaEventSynchronize", cudaEventSynchronize(e.e));
    raise();
  }
  void sync() override {
    check("cudaStreamSynchronize", cudaStreamSynchronize(s_));
    raise();
  }

 private:
  void check(const char *what, cudaError_t r) {
    if (r != cudaSuccess) note(what, r);
  }
  void launched(const char *what, bool ok) {
    if (!ok) note(what, cudaGetLastError());
  }
  // The GPU half of a layer enqueues while the CPU half waits on the same stream from another thread.
  void note(const char *what, cudaError_t r) {
    std::lock_guard<std::mutex> g(mu_);
    if (error_.empty()) error_ = fmt::format("{}: {}", what, r == cudaSuccess ? "no kernel for these arguments" : cudaGetErrorString(r));
  }
  void raise() {
    std::string e;
    {
      std::lock_guard<std::mutex> g(mu_);
      e.swap(error_);
    }
    if (!e.empty()) fail(HEARTH_ERR_INTERNAL, "GPU: " + e);
  }

  cudaStream_t s_ = nullptr;
  std::shared_ptr<event_pool> events_ = std::make_shared<event_pool>();
  std::mutex mu_;
  std::string error_;
};

class cuda_device final : public device {
 public:
  explicit cuda_device(int id) : id_(id) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, id) == cudaSuccess) name_ = fmt::format("{} (CUDA device {})", p.name, id);
  }
  std::string name() const override { return name_; }
  size_t free_bytes() const override {
    size_t free = 0, total = 0;
    return cudaMemGetInfo(&free, &total) == cudaSuccess ? free : 0;
  }
  void *alloc(size_t bytes) override { return allocated([&](void **p) { return cudaMalloc(p, bytes); }); }
  void release(void *p) override { cudaFree(p); }
  void *alloc_pinned(size_t bytes) override { return allocated([&](void **p) { return cudaMallocHost(p, bytes); }); }
  void release_pinned(void *p) override { cudaFreeHost(p); }
  bool upload_now(void *dst, const void *src, size_t bytes) override {
    return cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess;
  }
  std::unique_ptr<device_stream> make_stream() override { return std::make_unique<cuda_stream>(); }
  bool supports(dtype t) const override { return cuda::has_kernels((uint32_t)t); }
  size_t kv_bytes() const override { return 2; }
  double copy_bandwidth(size_t bytes) override {
    void *a = alloc(bytes), *b = alloc(bytes);
    double bw = 0;
    cudaEvent_t e0, e1;
    if (a && b && cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
      cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);  // warm up
      cudaEventRecord(e0);
      const int reps = 10;
      for (int r = 0; r < reps; ++r) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms = 0;
      if (cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess && ms > 0) bw = 2.0 * (double)bytes * reps / (ms * 1e-3);
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
    }
    cudaGetLastError();
    release(a);
    release(b);
    return bw;
  }

 private:
  // nullptr, with the error cleared, where the allocation fails: the caller falls back to the CPU
  template <class F>
  static void *allocated(F &&allocate) {
    void *p = nullptr;
    if (allocate(&p) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return p;
  }

  int id_;
  std::string name_ = "CUDA device";
};

}  // namespace

// Every CUDA error here (no driver: cudaErrorInsufficientDriver; no device: cudaErrorNoDevice) means "run on the
// CPU", so the answer is a count, never a failure.
int32_t gpu_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

std::unique_ptr<device> make_cuda_device(std::string *why) {
  int n = 0;
  const cudaError_t r = cudaGetDeviceCount(&n);
  if (r != cudaSuccess || n == 0) {
    cudaGetLastError();
    if (why) *why = r != cudaSuccess ? cudaGetErrorString(r) : "no CUDA device";
    return nullptr;
  }
  if (cudaSetDevice(0) != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = "cudaSetDevice(0) failed";
    return nullptr;
  }
  return std::make_unique<cuda_device>(0);
}

}  // namespace hearth
