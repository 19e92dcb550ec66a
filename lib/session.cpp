#include "session.h"

#include <fmt/format.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "../kernels/cpu/kernels.h"
#include "error.h"
#include "log.h"
#include "ops.h"

namespace hearth {
namespace {
const model &runnable(const model &m) {
  if (m.vocab_only()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the model was loaded vocabulary-only; it cannot evaluate");
  return m;
}
}  // namespace

session::session(const model &m, const session_config &cfg)
    : model_(runnable(m)),
      n_ctx_(cfg.n_ctx > 0 ? cfg.n_ctx : std::min(m.hp().n_ctx_train, 4096)),
      n_batch_(cfg.n_batch > 0 ? cfg.n_batch : 256),
      n_threads_(cfg.n_threads > 0 ? cfg.n_threads : tbb::info::default_concurrency()),
      kv_width_(m.hp().n_embd_kv()),
      arena_(n_threads_) {
  if (cfg.n_ctx < 0 || cfg.n_batch < 0 || cfg.n_threads < 0 || n_ctx_ > (1 << 24) || n_threads_ > 1024)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "n_ctx, n_batch and n_threads must be small non-negative numbers");
  n_batch_ = std::min(n_batch_, n_ctx_);
  const size_t kv = (size_t)m.hp().n_layer * n_ctx_ * kv_width_;
  k_ = make_aligned_buffer<float>(kv);
  v_ = make_aligned_buffer<float>(kv);
  if (!k_ || !v_) fail(HEARTH_ERR_OUT_OF_MEMORY, fmt::format("cannot allocate a KV cache of {:.1f} MiB", 2.0 * kv * 4 / 1048576));
  sampler_.configure(sampler_config{});
  log(HEARTH_LOG_INFO, "session: n_ctx {}, n_batch {}, {} threads, kernels {}", n_ctx_, n_batch_, n_threads_, cpu::kernels().isa);
}

void session::reset() {
  n_past_ = 0;
  has_logits_ = false;
  pending_.clear();
  pending_pos_ = 0;
  sampler_.clear_history();
}

void session::check_cancel() {
  if (cancel_.exchange(false)) fail(HEARTH_ERR_CANCELLED, "cancelled");
}

void session::eval(const int32_t *tokens, int32_t n, bool all_logits) {
  if (n <= 0 || !tokens) fail(HEARTH_ERR_INVALID_ARGUMENT, "no tokens to evaluate");
  const int32_t n_vocab = model_.hp().n_vocab;
  for (int32_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("token {} at index {} is outside the vocabulary of {}", tokens[i], i, n_vocab));
  if ((int64_t)n_past_ + n > n_ctx_)
    fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("context full: {} tokens evaluated + {} new > n_ctx {}", n_past_, n, n_ctx_));
  check_cancel();
  has_logits_ = false;
  n_logits_ = all_logits ? n : 1;
  logits_.resize((size_t)n_logits_ * n_vocab);
  for (int32_t done = 0; done < n;) {
    const int32_t chunk = std::min(n_batch_, n - done);
    const bool last = done + chunk == n;
    float *out = all_logits ? logits_.data() + (size_t)done * n_vocab : (last ? logits_.data() : nullptr);
    arena_.execute([&] { forward(tokens + done, chunk, n_past_, all_logits, out); });
    n_past_ += chunk;
    done += chunk;
  }
  has_logits_ = true;
}

const float *session::logits(int32_t i) const {
  if (!has_logits_) return nullptr;
  if (i == -1) i = n_logits_ - 1;
  if (i < 0 || i >= n_logits_) return nullptr;
  return logits_.data() + (size_t)i * model_.hp().n_vocab;
}

int32_t session::sample() {
  const float *l = logits(-1);
  if (!l) fail(HEARTH_ERR_INVALID_ARGUMENT, "nothing to sample from: evaluate tokens first");
  const int32_t t = sampler_.sample(l, model_.hp().n_vocab);
  sampler_.accept(t);
  return t;
}

int32_t session::step() {
  using clock = std::chrono::steady_clock;
  if (pending() > 0) {
    const int32_t n = (int32_t)std::min<size_t>(pending(), (size_t)n_batch_);
    const auto t0 = clock::now();
    eval(pending_.data() + pending_pos_, n, false);
    for (int32_t i = 0; i < n; ++i) sampler_.accept(pending_[pending_pos_ + i]);
    pending_pos_ += (size_t)n;
    if (pending() == 0) {
      pending_.clear();
      pending_pos_ = 0;
    }
    perf_.n_prompt += n;
    perf_.prompt_ms += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    return -1;
  }
  const auto t0 = clock::now();
  const int32_t t = sample();
  if (!model_.vocab().is_eog(t)) {
    if (n_past_ >= n_ctx_) fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("context full ({} tokens)", n_ctx_));
    eval(&t, 1, false);
  }
  perf_.n_generated += 1;
  perf_.generate_ms += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  return t;
}

void session::forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out) {
  const hparams &hp = model_.hp();
  const int64_t d = hp.n_embd, dkv = kv_width_, ff = hp.n_ff, hd = hp.head_dim();
  const int32_t n_head = hp.n_head, group = hp.n_head / hp.n_head_kv;
  auto need = [n](std::vector<float> &v, int64_t width) {
    if (v.size() < (size_t)(n * width)) v.resize((size_t)(n * width));
    return v.data();
  };
  float *x = need(x_, d), *xn = need(xn_, d), *q = need(q_, d), *kk = need(kk_, dkv), *vv = need(vv_, dkv);
  float *att = need(att_, d), *gate = need(gate_, ff), *up = need(up_, ff), *ffo = need(ffo_, d);
  std::vector<int32_t> pos((size_t)n);
  for (int32_t t = 0; t < n; ++t) pos[(size_t)t] = pos0 + t;

  embed(model_.tok_embd(), tokens, n, x);
  const float scale = 1.0f / std::sqrt((float)hd);
  const auto &K = cpu::kernels();
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const layer &L = model_.layers()[(size_t)il];
    rmsnorm(x, L.attn_norm.data(), n, d, hp.rms_eps, xn);
    {
      const matrix *ws[3] = {&L.wq, &L.wk, &L.wv};
      float *ys[3] = {q, kk, vv};
      matmul_shared(ws, ys, 3, xn, n, qscratch_);
    }
    rope(q, n, n_head, (int32_t)hd, hp.n_rot, hp.rope_base, pos.data());
    rope(kk, n, hp.n_head_kv, (int32_t)hd, hp.n_rot, hp.rope_base, pos.data());
    float *kc = kcache(il), *vc = vcache(il);
    std::copy(kk, kk + n * dkv, kc + (size_t)pos0 * dkv);
    std::copy(vv, vv + n * dkv, vc + (size_t)pos0 * dkv);

    // Causal attention: token t sees cache positions 0..pos0+t; query head h reads KV head h / group.
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, (int64_t)n * n_head), [&](const tbb::blocked_range<int64_t> &r) {
      std::vector<float> score;
      for (int64_t job = r.begin(); job < r.end(); ++job) {
        const int64_t t = job / n_head, h = job % n_head, kvh = h / group;
        const int64_t n_kv = pos0 + t + 1;
        const float *qh = q + t * d + h * hd;
        score.resize((size_t)n_kv);
        float max = -INFINITY;
        for (int64_t p = 0; p < n_kv; ++p) {
          K.dot_f32(hd, qh, kc + p * dkv + kvh * hd, 0, nullptr, 1, &score[(size_t)p]);
          score[(size_t)p] *= scale;
          max = std::max(max, score[(size_t)p]);
        }
        float sum = 0;
        for (float &s : score) sum += s = std::exp(s - max);
        float *out = att + t * d + h * hd;
        std::fill(out, out + hd, 0.0f);
        for (int64_t p = 0; p < n_kv; ++p) K.axpy_f32(hd, score[(size_t)p] / sum, vc + p * dkv + kvh * hd, out);
      }
    });
    matmul(L.wo, att, n, ffo, qscratch_);
    for (int64_t i = 0; i < n * d; ++i) x[i] += ffo[i];

    rmsnorm(x, L.ffn_norm.data(), n, d, hp.rms_eps, xn);
    {
      const matrix *ws[2] = {&L.up, &L.gate};
      float *ys[2] = {up, gate};
      matmul_shared(ws, ys, L.gate ? 2 : 1, xn, n, qscratch_);
    }
    ffn_activate(hp.ffn, gate, up, n * ff);
    if (L.down) matmul(L.down, up, n, ffo, qscratch_);
    else matmul_t(L.down_t, up, n, ffo);
    for (int64_t i = 0; i < n * d; ++i) x[i] += ffo[i];
    check_cancel();
  }
  if (!logits_out) return;
  // Only the rows whose logits are wanted go through the output matrix.
  const int64_t first = all_logits ? 0 : n - 1, rows = n - first;
  rmsnorm(x + first * d, model_.output_norm().data(), rows, d, hp.rms_eps, xn);
  matmul(model_.output(), xn, rows, logits_out, qscratch_);
}

}  // namespace hearth
