// The emulated device: "VRAM" is host memory under a capacity limit, and a stream is a worker thread that runs
// the enqueued operators in order with the CPU operators, so the hybrid executor's ordering, events, transfers and
// packed tables are exercised exactly as on a GPU, only slower. An optional delay before each operator makes a
// missing wait show up as a wrong result instead of passing by luck.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "device.h"
#include "error.h"
#include "memory.h"
#include "attention.h"
#include "ops.h"
#include "sparse_ffn.h"

namespace hearth {
namespace {

matrix as_matrix(const dev_matrix &w) {
  matrix m;
  m.type = w.type, m.rows = w.rows, m.cols = w.cols, m.data = (const uint8_t *)w.data, m.row_size = w.row_size;
  return m;
}

class emulated_event final : public device_event {
 public:
  explicit emulated_event(uint64_t s) : seq(s) {}
  uint64_t seq;
};

class emulated_stream final : public device_stream {
 public:
  explicit emulated_stream(int32_t delay_us) : delay_us_(delay_us), worker_([this] { loop(); }) {}
  ~emulated_stream() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void upload(void *dst, const void *src, size_t bytes) override { enqueue([=] { std::memcpy(dst, src, bytes); }); }
  void download(void *dst, const void *src, size_t bytes) override { enqueue([=] { std::memcpy(dst, src, bytes); }); }
  void copy(void *dst, const void *src, size_t bytes) override { enqueue([=] { std::memmove(dst, src, bytes); }); }

  void matmul(const dev_matrix &w, const float *x, int64_t n, float *y) override {
    enqueue([=, this] { hearth::matmul(as_matrix(w), x, n, y, qs_); });
  }
  void norm(norm_kind kind, const float *x, const float *w, const float *b, int64_t n, int64_t width, float eps,
            float *y) override {
    enqueue([=] { hearth::norm(kind, x, w, b, n, width, eps, y); });
  }
  void head_norm(float *x, const float *w, int64_t n, int32_t heads, int32_t hd, float eps) override {
    enqueue([=] { hearth::head_norm(x, w, n, heads, hd, eps); });
  }
  void add_bias(float *y, const float *b, int64_t n, int64_t width) override {
    enqueue([=] { hearth::add_bias(y, b, n, width); });
  }
  void rope(float *x, int64_t n, int32_t heads, int32_t hd, const rope_spec &r, int32_t pos0) override {
    enqueue([=] {
      std::vector<int32_t> pos((size_t)n);
      for (int64_t t = 0; t < n; ++t) pos[(size_t)t] = pos0 + (int32_t)t;
      hearth::rope(x, n, heads, hd, r, pos.data());
    });
  }
  void store_kv(void *cache, const float *src, int64_t n, int32_t pos0, int64_t width) override {
    enqueue([=] { std::memcpy((float *)cache + (size_t)pos0 * width, src, (size_t)(n * width) * sizeof(float)); });
  }
  void attend(const float *q, const void *kc, const void *vc, int64_t n, int32_t pos0, const attention_spec &a,
              float *out) override {
    enqueue([=] { hearth::attend(q, (const float *)kc, (const float *)vc, n, pos0, a, out); });
  }
  void add(float *x, const float *y, int64_t count) override {
    enqueue([=] { hearth::add(x, y, count); });
  }
  void add_scaled(float *x, const float *y, float w, int64_t count) override {
    enqueue([=] {
      for (int64_t i = 0; i < count; ++i) x[i] += w * y[i];
    });
  }
  void zero(float *x, int64_t count) override {
    enqueue([=] { std::fill(x, x + count, 0.0f); });
  }
  void relu(float *x, int64_t count) override {
    enqueue([=] {
      for (int64_t i = 0; i < count; ++i) x[i] = std::max(x[i], 0.0f);
    });
  }
  void activate(const ffn_form &form, const float *gate, float *up, int64_t count) override {
    enqueue([=] { ffn_activate(form, gate, up, count); });
  }

  void hot_gate_up(const dev_matrix &gate, const dev_matrix &up, const float *bgate, const float *bup, const ffn_form &form,
                   const float *xn, int64_t n, const float *logits, int32_t n_ff, const int32_t *orig, float threshold,
                   float *a) override {
    enqueue([=, this] {
      const int64_t K = up.rows;
      auto on = [&](int64_t t, int64_t j) { return !logits || logits[t * n_ff + orig[j]] >= threshold; };
      std::vector<int32_t> rows;  // the rows some token needs
      for (int64_t j = 0; j < K; ++j)
        for (int64_t t = 0; t < n; ++t)
          if (on(t, j)) {
            rows.push_back((int32_t)j);
            break;
          }
      const int64_t R = (int64_t)rows.size();
      std::vector<float> g((size_t)(n * R)), u((size_t)(n * R));
      const matrix mg = as_matrix(gate), mu = as_matrix(up);
      if (gate) {
        const matrix *ws[2] = {&mg, &mu};
        float *outs[2] = {g.data(), u.data()};
        rows_dot_shared(ws, outs, 2, rows.data(), R, xn, n, qs_);
      } else {
        rows_dot(mu, rows.data(), R, xn, n, u.data(), qs_);
      }
      std::fill(a, a + n * K, 0.0f);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < R; ++r) {
          const int32_t j = rows[(size_t)r];
          if (!on(t, j)) continue;
          const float gv = g[(size_t)(t * R + r)] + (bgate ? bgate[j] : 0.0f), uv = u[(size_t)(t * R + r)] + (bup ? bup[j] : 0.0f);
          a[t * K + j] = ffn_act(form, gv, uv);
        }
    });
  }
  void hot_down(const dev_matrix &down_t, const float *a, int64_t n, float *, float *y) override {
    enqueue([=, this] {
      std::vector<int32_t> all((size_t)down_t.rows);
      for (int64_t j = 0; j < down_t.rows; ++j) all[(size_t)j] = (int32_t)j;
      rows_axpy(as_matrix(down_t), all.data(), down_t.rows, a, n, y, sparse_);
    });
  }
  void cold_lists(const float *logits, int64_t n, int32_t n_ff, float threshold, const int32_t *row_of, int32_t *lists,
                  int32_t *counts) override {
    enqueue([=] {
      for (int64_t t = 0; t < n; ++t) {
        int32_t c = 0, h = 0;
        for (int32_t i = 0; i < n_ff; ++i)
          if (logits[t * n_ff + i] >= threshold) {
            if (row_of[i] < 0) lists[t * n_ff + c++] = i;
            else ++h;
          }
        counts[t] = c;
        counts[n + t] = h;
      }
    });
  }

  std::unique_ptr<device_event> record() override {
    std::lock_guard<std::mutex> g(mu_);
    return std::make_unique<emulated_event>(queued_);
  }
  void wait(device_event &e) override { wait_for(static_cast<emulated_event &>(e).seq); }
  void sync() override {
    uint64_t s;
    {
      std::lock_guard<std::mutex> g(mu_);
      s = queued_;
    }
    wait_for(s);
  }

 private:
  void enqueue(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> g(mu_);
      queue_.push_back(std::move(f));
      ++queued_;
    }
    cv_.notify_all();
  }
  void wait_for(uint64_t seq) {
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [&] { return done_ >= seq; });
    if (!error_.empty()) {
      const std::string e = error_;
      error_.clear();
      fail(HEARTH_ERR_INTERNAL, "emulated device: " + e);
    }
  }
  void loop() {
    std::unique_lock<std::mutex> g(mu_);
    for (;;) {
      cv_.wait(g, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      std::function<void()> f = std::move(queue_.front());
      queue_.pop_front();
      g.unlock();
      if (delay_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
      std::string err;
      try {
        f();
      } catch (const std::exception &e) {
        err = e.what();
      }
      g.lock();
      if (!err.empty() && error_.empty()) error_ = err;
      ++done_;
      done_cv_.notify_all();
    }
  }

  int32_t delay_us_;
  q8_scratch qs_;         // used only on the worker thread
  sparse_scratch sparse_;  // likewise
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::function<void()>> queue_;
  uint64_t queued_ = 0, done_ = 0;
  bool stop_ = false;
  std::string error_;
  std::thread worker_;
};

class emulated_device final : public device {
 public:
  emulated_device(size_t capacity, int32_t delay_us) : capacity_(capacity), delay_us_(delay_us) {}
  std::string name() const override { return "emulated GPU (host memory, one worker thread per stream)"; }
  size_t free_bytes() const override { return capacity_ - used_.load(); }
  void *alloc(size_t bytes) override {
    const size_t rounded = (bytes + 255) / 256 * 256 + 256;  // room for the size, like a real allocator's granule
    size_t used = used_.load();
    do {
      if (used + rounded > capacity_) return nullptr;
    } while (!used_.compare_exchange_weak(used, used + rounded));
    auto *p = (uint8_t *)zalloc_aligned(rounded);
    if (!p) {
      used_ -= rounded;
      return nullptr;
    }
    std::memcpy(p, &rounded, sizeof rounded);
    return p + 256;
  }
  void release(void *p) override {
    if (!p) return;
    uint8_t *base = (uint8_t *)p - 256;
    size_t rounded;
    std::memcpy(&rounded, base, sizeof rounded);
    used_ -= rounded;
    free_aligned(base);
  }
  void *alloc_pinned(size_t bytes) override { return zalloc_aligned(std::max<size_t>(bytes, 64)); }
  void release_pinned(void *p) override { free_aligned(p); }
  bool upload_now(void *dst, const void *src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return true;
  }
  std::unique_ptr<device_stream> make_stream() override { return std::make_unique<emulated_stream>(delay_us_); }
  bool supports(dtype t) const override { return traits(t).computable; }
  size_t kv_bytes() const override { return sizeof(float); }
  double copy_bandwidth(size_t bytes) override {
    std::vector<uint8_t> a(bytes, 1), b(bytes);
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s > 0 ? 2.0 * (double)bytes / s : 0.0;  // read + write, as a device copy is counted
  }

 private:
  size_t capacity_;
  int32_t delay_us_;
  std::atomic<size_t> used_{0};
};

}  // namespace

std::unique_ptr<device> make_emulated_device(size_t capacity_bytes, int32_t delay_us) {
  return std::make_unique<emulated_device>(capacity_bytes, delay_us);
}

}  // namespace hearth
