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
#include "offload.h"
#include "session_gpu.h"
#include "stopwatch.h"

namespace hearth {
namespace {

const model &runnable(const model &m) {
  if (m.vocab_only()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the model was loaded vocabulary-only; it cannot evaluate");
  return m;
}

// Calibration text for CATS thresholds: ordinary English, tokenized with the model's own vocabulary.
const char k_calibration_text[] =
    "The hearth is the oldest room of the house. People gathered around the fire to cook, to keep warm and to tell "
    "stories. A language model reads text and guesses what comes next, one small piece at a time. The river ran "
    "past the mill and under the stone bridge, and in the evening the family sat by the fire.";

}  // namespace

session::session(const model &m, const session_config &cfg)
    : model_(runnable(m)),
      n_ctx_(cfg.n_ctx > 0 ? cfg.n_ctx : std::min(m.hp().n_ctx_train, 4096)),
      n_batch_(cfg.n_batch > 0 ? cfg.n_batch : 256),
      n_threads_(cfg.n_threads > 0 ? cfg.n_threads : tbb::info::default_concurrency()),
      kv_width_(m.hp().n_embd_kv()),
      arena_(n_threads_),
      mode_(resolve_sparse_mode(cfg.sparse_mode, m)),
      count_neurons_(cfg.count_neurons),
      observer_(cfg.observer) {
  if (cfg.n_ctx < 0 || cfg.n_batch < 0 || cfg.n_threads < 0 || n_ctx_ > (1 << 24) || n_threads_ > 1024)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "n_ctx, n_batch and n_threads must be small non-negative numbers");
  if (!(cfg.cats_sparsity >= 0.0f && cfg.cats_sparsity < 1.0f)) fail(HEARTH_ERR_INVALID_ARGUMENT, "cats_sparsity must be in [0, 1)");
  if (mode_ != sparse_mode::dense && mode_ != sparse_mode::predictor && !m.neuron_major())
    log(HEARTH_LOG_WARN, "{}: the file stores ffn_down row-major, so only the up projection is skipped; "
                         "`hearth calibrate` writes the neuron-major layout", sparse_mode_name(mode_));
  n_batch_ = std::min(n_batch_, n_ctx_);
  const size_t kv = (size_t)m.hp().n_layer * n_ctx_ * kv_width_;
  k_ = make_aligned_buffer<float>(kv);
  v_ = make_aligned_buffer<float>(kv);
  if (!k_ || !v_) fail(HEARTH_ERR_OUT_OF_MEMORY, fmt::format("cannot allocate a KV cache of {:.1f} MiB", 2.0 * kv * 4 / 1048576));
  sampler_.configure(sampler_config{});
  for (int32_t il = 0; il < m.hp().n_layer; ++il) {
    tables_.push_back(neuron_table::all_cpu(m.hp().n_ff));
    thresholds_.push_back(m.layers()[(size_t)il].threshold);
  }
  reset_stats();
  gpu_open();
  arena_.execute([&] { exec_ = std::make_unique<executor>(*this); });
  if (mode_ == sparse_mode::cats) calibrate_cats(cfg.cats_sparsity);
  log(HEARTH_LOG_INFO, "session: n_ctx {}, n_batch {}, {} threads, kernels {}, mode {}{}, graph of {} operators", n_ctx_,
      n_batch_, n_threads_, cpu::kernels().isa, sparse_mode_name(mode_), gpu_ ? ", hybrid CPU-GPU" : "", exec_->node_count());
}

session::~session() {
  arena_.execute([&] { exec_.reset(); });
}

void session::calibrate_cats(float sparsity) {
  std::vector<int32_t> toks;
  model_.vocab().encode(k_calibration_text, true, false, toks);
  toks.resize(std::min(toks.size(), (size_t)std::min(n_ctx_, 128)));
  calib_samples_.assign((size_t)model_.hp().n_layer, {});
  calibrating_ = true;
  try {
    eval(toks.data(), (int32_t)toks.size(), false);
  } catch (...) {
    calibrating_ = false;
    throw;
  }
  calibrating_ = false;
  for (size_t il = 0; il < calib_samples_.size(); ++il) thresholds_[il] = cats_threshold(std::move(calib_samples_[il]), sparsity);
  calib_samples_.clear();
  reset();
  reset_stats();
  log(HEARTH_LOG_INFO, "CATS thresholds for {:.0f}% sparsity from {} tokens: layer 0 {:.4f}, last {:.4f}", 100 * sparsity,
      toks.size(), thresholds_.front(), thresholds_.back());
}

void session::reset() {
  n_past_ = 0;
  has_logits_ = false;
  pending_.clear();
  pending_pos_ = 0;
  sampler_.clear_history();
}

void session::reset_stats() {
  stats_ = {};
  if (count_neurons_) stats_.fired.assign((size_t)model_.hp().n_layer * model_.hp().n_ff, 0);
}

void session::set_threshold(int32_t layer, float value) {
  if (layer < -1 || layer >= (int32_t)thresholds_.size())
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("layer {} does not exist (the model has {})", layer, thresholds_.size()));
  if (std::isnan(value)) fail(HEARTH_ERR_INVALID_ARGUMENT, "the threshold is NaN");
  if (layer == -1) std::fill(thresholds_.begin(), thresholds_.end(), value);
  else thresholds_[(size_t)layer] = value;
}

double session::non_ffn_bytes() const {
  double b = (double)model_.tok_embd().row_size + (double)model_.output().bytes();
  for (const layer &L : model_.layers())
    b += (double)(L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes()) + (double)(L.attn_norm.size() + L.ffn_norm.size()) * 4;
  return b;
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
    forward(tokens + done, chunk, n_past_, all_logits, out);
    n_past_ += chunk;
    done += chunk;
  }
  has_logits_ = true;
}

void session::forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out) {
  const hparams &hp = model_.hp();
  tokens_ = tokens;
  n_ = n;
  pos0_ = pos0;
  all_logits_ = all_logits;
  logits_out_ = logits_out;
  pos_.resize((size_t)n);
  for (int32_t t = 0; t < n; ++t) pos_[(size_t)t] = pos0 + t;
  auto need = [n](std::vector<float> &v, int64_t width) {
    if (v.size() < (size_t)(n * width)) v.resize((size_t)(n * width));
  };
  need(x_, hp.n_embd), need(xn_, hp.n_embd), need(q_, hp.n_embd), need(kk_, kv_width_), need(vv_, kv_width_);
  need(att_, hp.n_embd), need(gate_, hp.n_ff), need(up_, hp.n_ff), need(ffo_, hp.n_embd);
  const auto t0 = clock_type::now();
  if (gpu_) {
    gpu_->st->sync();  // nothing of an earlier, failed step is still in flight
    gpu_->x_host = true, gpu_->x_dev = false;
    std::fill(gpu_->counted.begin(), gpu_->counted.end(), 0);
  }
  arena_.execute([&] { exec_->run(); });
  stats_.step_ms += ms_since(t0);
  stats_.tokens += (uint64_t)n;
  if (n == 1) ++stats_.decode_tokens;
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
  if (pending() > 0) {
    const int32_t n = (int32_t)std::min<size_t>(pending(), (size_t)n_batch_);
    const auto t0 = clock_type::now();
    eval(pending_.data() + pending_pos_, n, false);
    for (int32_t i = 0; i < n; ++i) sampler_.accept(pending_[pending_pos_ + i]);
    pending_pos_ += (size_t)n;
    if (pending() == 0) {
      pending_.clear();
      pending_pos_ = 0;
    }
    perf_.n_prompt += n;
    perf_.prompt_ms += ms_since(t0);
    return -1;
  }
  const auto t0 = clock_type::now();
  const int32_t t = sample();
  if (!model_.vocab().is_eog(t)) {
    if (n_past_ >= n_ctx_) fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("context full ({} tokens)", n_ctx_));
    eval(&t, 1, false);
  }
  perf_.n_generated += 1;
  perf_.generate_ms += ms_since(t0);
  return t;
}

// ---- operators --------------------------------------------------------------------------------------------

void session::op_embed() { embed(model_.tok_embd(), tokens_, n_, x_.data()); }

void session::op_attention_in(int32_t il) {
  check_cancel();
  op_timer timer{stats_.attention_ms};
  const hparams &hp = model_.hp();
  const layer &L = model_.layers()[(size_t)il];
  rmsnorm(x_.data(), L.attn_norm.data(), n_, hp.n_embd, hp.rms_eps, xn_.data());
  const matrix *ws[3] = {&L.wq, &L.wk, &L.wv};
  float *ys[3] = {q_.data(), kk_.data(), vv_.data()};
  matmul_shared(ws, ys, 3, xn_.data(), n_, qscratch_);
  rope(q_.data(), n_, hp.n_head, hp.head_dim(), hp.n_rot, hp.rope_base, pos_.data());
  rope(kk_.data(), n_, hp.n_head_kv, hp.head_dim(), hp.n_rot, hp.rope_base, pos_.data());
  std::copy(kk_.begin(), kk_.begin() + n_ * kv_width_, kcache(il) + (size_t)pos0_ * kv_width_);
  std::copy(vv_.begin(), vv_.begin() + n_ * kv_width_, vcache(il) + (size_t)pos0_ * kv_width_);
}

void session::op_attend(int32_t il) {
  op_timer timer{stats_.attention_ms};
  const hparams &hp = model_.hp();
  attend(q_.data(), kcache(il), vcache(il), n_, pos0_, hp.n_head, hp.n_head_kv, hp.head_dim(), att_.data());
}

void session::op_attention_out(int32_t il) {
  op_timer timer{stats_.attention_ms};
  const layer &L = model_.layers()[(size_t)il];
  matmul(L.wo, att_.data(), n_, ffo_.data(), qscratch_);
  const int64_t len = n_ * model_.hp().n_embd;
  for (int64_t i = 0; i < len; ++i) x_[(size_t)i] += ffo_[(size_t)i];
}

void session::op_ffn_norm(int32_t il) {
  const hparams &hp = model_.hp();
  rmsnorm(x_.data(), model_.layers()[(size_t)il].ffn_norm.data(), n_, hp.n_embd, hp.rms_eps, xn_.data());
}

// The activation masks of the layer: from the predictor (which reads x before the norm), or from the dense gate
// (exact gate: gate > 0; CATS: |silu(gate)| >= threshold), which the FFN then reuses instead of recomputing.
void session::op_ffn_mask(int32_t il) {
  op_timer timer{stats_.mask_ms};
  const hparams &hp = model_.hp();
  const layer &L = model_.layers()[(size_t)il];
  if (mode_ == sparse_mode::predictor) {
    const auto t0 = clock_type::now();
    predict_masks(L, x_.data(), n_, thresholds_[(size_t)il], masks_, hidden_, plogits_, qscratch_pred_);
    stats_.predictor_ms += ms_since(t0);
    return;
  }
  // The "gate" of a gate-less ReLU FFN is its up projection.
  const bool gateless = hp.ffn == ffn_kind::relu;
  matmul(gateless ? L.up : L.gate, xn_.data(), n_, gateless ? up_.data() : gate_.data(), qscratch_);
  const float *g = gateless ? up_.data() : gate_.data();
  if (calibrating_) {
    std::vector<float> &samples = calib_samples_[(size_t)il];
    for (int64_t i = 0; i < n_ * hp.n_ff; ++i) samples.push_back(std::fabs(g[i] / (1.0f + std::exp(-g[i]))));
  }
  gate_masks(g, n_, hp.n_ff, mode_ == sparse_mode::cats, calibrating_ ? -1.0f : thresholds_[(size_t)il], masks_);
}

void session::op_ffn(int32_t il) {
  op_timer timer{stats_.ffn_ms};
  ffn_compute(il);
  stats_.neurons += (uint64_t)(n_ * model_.hp().n_ff);
  const int64_t len = n_ * model_.hp().n_embd;
  for (int64_t i = 0; i < len; ++i) x_[(size_t)i] += ffo_[(size_t)i];
}

void session::ffn_compute(int32_t il) {
  const hparams &hp = model_.hp();
  const layer &L = model_.layers()[(size_t)il];
  const neuron_table &table = tables_[(size_t)il];
  const int64_t ff = hp.n_ff;
  if (mode_ == sparse_mode::dense && table.gpu.empty()) {
    const matrix *ws[2] = {&L.up, &L.gate};
    float *ys[2] = {up_.data(), gate_.data()};
    matmul_shared(ws, ys, L.gate ? 2 : 1, xn_.data(), n_, qscratch_);
    ffn_activate(hp.ffn, gate_.data(), up_.data(), n_ * ff);
    if (L.down) {
      matmul(L.down, up_.data(), n_, ffo_.data(), qscratch_);
    } else {  // neuron-major file, every neuron (the layer's CPU table lists them all), zeros included
      rows_axpy(L.down_t, table.cpu.data(), (int64_t)table.cpu.size(), up_.data(), n_, ffo_.data(), sparse_, false);
    }
    stats_.active += (uint64_t)(n_ * ff);
    if (observer_) observer_->on_ffn(il, x_.data(), up_.data(), n_);
    if (count_neurons_) {
      uint64_t *f = stats_.fired.data() + (size_t)il * ff;
      for (int64_t t = 0; t < n_; ++t)
        for (int64_t i = 0; i < ff; ++i) f[i] += up_[(size_t)(t * ff + i)] != 0.0f;
    }
    if (n_ == 1) stats_.decode_bytes += (double)(L.up.bytes() + (L.gate ? L.gate.bytes() : 0) + (L.down ? L.down : L.down_t).bytes());
  } else {
    if (mode_ == sparse_mode::dense) {  // the CPU half of a dense FFN split with the GPU: every CPU neuron
      masks_.reset(n_, (int32_t)ff);
      for (int64_t t = 0; t < n_; ++t)
        for (int32_t i : table.cpu) masks_.add(t, i);
      masks_.finish();
    }
    table.cpu_active(masks_.uni, cpu_active_);
    const bool gate_done = mode_ == sparse_mode::exact_gate || mode_ == sparse_mode::cats;
    const bool gateless = hp.ffn == ffn_kind::relu;
    if (L.down_t) {
      sparse_ffn(L, hp.ffn, xn_.data(), n_, masks_, cpu_active_, gate_done && !gateless ? gate_.data() : nullptr,
                 gate_done && gateless ? up_.data() : nullptr, ffo_.data(), sparse_, qscratch_);
    } else {
      // Row-major ffn_down (a plain llama.cpp file): up only for active neurons, then a dense down projection.
      std::fill(up_.begin(), up_.begin() + n_ * ff, 0.0f);
      sparse_.u.resize((size_t)(n_ * (int64_t)cpu_active_.size()));
      rows_dot(L.up, cpu_active_.data(), (int64_t)cpu_active_.size(), xn_.data(), n_, sparse_.u.data(), qscratch_);
      const int64_t K = (int64_t)cpu_active_.size();
      for (int64_t t = 0; t < n_; ++t)
        for (int64_t j = 0; j < K; ++j) up_[(size_t)(t * ff + cpu_active_[(size_t)j])] = sparse_.u[(size_t)(t * K + j)];
      for (int64_t t = 0; t < n_; ++t)
        for (int64_t i = 0; i < ff; ++i)
          if (!masks_.flags[(size_t)(t * ff + i)]) up_[(size_t)(t * ff + i)] = 0.0f;
      ffn_activate(hp.ffn, gate_.data(), up_.data(), n_ * ff);
      matmul(L.down, up_.data(), n_, ffo_.data(), qscratch_);
    }
    size_t active = 0;  // the CPU's share of the active neurons
    for (const auto &list : masks_.active)
      for (int32_t i : list) active += table.gpu.empty() || !table.on_gpu[(size_t)i];
    stats_.active += active;
    if (count_neurons_) {
      uint64_t *f = stats_.fired.data() + (size_t)il * ff;
      for (const auto &list : masks_.active)
        for (int32_t i : list) ++f[i];
    }
    if (n_ == 1) {
      const double per_neuron = (double)(L.up.row_size + (L.down_t ? L.down_t.row_size : 0)) +
                                (!gate_done && L.gate ? (double)L.gate.row_size : 0.0);
      double b = (double)active * per_neuron + (L.down_t ? 0.0 : (double)L.down.bytes());
      const bool predictor_here = mode_ == sparse_mode::predictor && !(gpu_ && model_.gpu()->layers()[(size_t)il].dense);
      if (predictor_here) b += (double)(L.fc1.bytes() + L.fc2.bytes());
      if (gate_done) b += (double)(hp.ffn == ffn_kind::relu ? L.up : L.gate).bytes();  // the dense gate
      stats_.decode_bytes += b;
    }
  }
}

void session::op_output() {
  if (!logits_out_) return;
  op_timer timer{stats_.output_ms};
  const hparams &hp = model_.hp();
  // Only the rows whose logits are wanted go through the output matrix.
  const int64_t first = all_logits_ ? 0 : n_ - 1, rows = n_ - first;
  rmsnorm(x_.data() + first * hp.n_embd, model_.output_norm().data(), rows, hp.n_embd, hp.rms_eps, xn_.data());
  matmul(model_.output(), xn_.data(), rows, logits_out_, qscratch_);
}

}  // namespace hearth
