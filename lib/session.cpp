#include "session.h"

#include <fmt/format.h>
#include <tbb/info.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "../kernels/cpu/kernels.h"
#include "attention.h"
#include "dtype.h"
#include "device.h"
#include "error.h"
#include "executor.h"
#include "log.h"
#include "masks.h"
#include "memory.h"
#include "offload.h"
#include "stopwatch.h"
#include "utf8.h"

namespace hearth {
namespace {

const model &runnable(const model &m) {
  if (m.vocab_only()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the model was loaded vocabulary-only; it cannot evaluate");
  return m;
}

// The text CATS thresholds are fitted on: ordinary English, tokenized with the model's own vocabulary.
const char k_cats_text[] =
    "The hearth is the oldest room of the house. People gathered around the fire to cook, to keep warm and to tell "
    "stories. A language model reads text and guesses what comes next, one small piece at a time. The river ran "
    "past the mill and under the stone bridge, and in the evening the family sat by the fire.";

constexpr double k_mib = 1048576.0;

}  // namespace

session::session(const model &m, const session_config &cfg)
    : model_(runnable(m)),
      n_ctx_(cfg.n_ctx > 0 ? cfg.n_ctx : std::min(m.hp().n_ctx_train, 4096)),
      n_batch_(cfg.n_batch > 0 ? cfg.n_batch : 256),
      n_threads_(cfg.n_threads > 0 ? cfg.n_threads : tbb::info::default_concurrency()),
      arena_(std::clamp(n_threads_, 1, 1024)),
      count_neurons_(cfg.count_neurons) {
  if (cfg.n_ctx < 0 || cfg.n_batch < 0 || cfg.n_threads < 0 || n_ctx_ > (1 << 24) || n_threads_ > 1024)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "n_ctx, n_batch and n_threads must be small non-negative numbers");
  if (m.pos_embd() && n_ctx_ > m.hp().n_ctx_train)  // learned positions end where the table does
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_ctx {} is beyond the {} positions the model learned", n_ctx_, m.hp().n_ctx_train));
  if (!(cfg.cats_sparsity >= 0.0f && cfg.cats_sparsity < 1.0f)) fail(HEARTH_ERR_INVALID_ARGUMENT, "cats_sparsity must be in [0, 1)");
  n_batch_ = std::min(n_batch_, n_ctx_);
  check_kv_type(cfg.type_k, m.hp().head_dim());
  check_kv_type(cfg.type_v, m.hp().head_dim());
  for (const layer &L : m.layers()) thresholds_.push_back(L.threshold);
  sampler_.configure(sampler_config{});
  reset_stats();

  // The GPU runs dense and predictor FFNs; a session in another mode, or whose buffers do not fit the device,
  // runs on the CPU, and AUTO then resolves for the CPU.
  bool on_gpu = m.gpu() != nullptr;
  if (on_gpu && (cfg.sparse_mode == (int32_t)sparse_mode::exact_gate || cfg.sparse_mode == (int32_t)sparse_mode::cats)) {
    log(HEARTH_LOG_WARN, "the GPU runs dense or predictor FFNs; this session's {} mode runs on the CPU",
        sparse_mode_name((sparse_mode)cfg.sparse_mode));
    on_gpu = false;
  }
  if (on_gpu) {
    try {
      build(true, cfg.sparse_mode, cfg);
    } catch (const error &e) {
      if (e.status() != HEARTH_ERR_OUT_OF_MEMORY || !stream_) throw;
      log(HEARTH_LOG_WARN, "this session's GPU buffers do not fit ({}): it runs on the CPU", e.what());
      on_gpu = false;
    }
  }
  if (!on_gpu) build(false, cfg.sparse_mode, cfg);
  if (mode_ != sparse_mode::dense && mode_ != sparse_mode::predictor && !m.neuron_major())
    log(HEARTH_LOG_WARN, "{}: the file stores ffn_down row-major, so only the up projection is skipped; "
                         "`hearth calibrate` writes the neuron-major layout", sparse_mode_name(mode_));
  if (mode_ == sparse_mode::cats) fit_cats_thresholds(cfg.cats_sparsity);
  log(HEARTH_LOG_INFO, "session: n_ctx {}, n_batch {}, {} threads, kernels {}, mode {}{}, {:.1f} MiB, graph of {} operators in {} tasks",
      n_ctx_, n_batch_, n_threads_, cpu::kernels().isa, sparse_mode_name(mode_), stream_ ? ", hybrid CPU-GPU" : "",
      memory_bytes_ / k_mib, exec_->node_count(), exec_->task_count());
}

// The graph for one placement, its buffers (after checking their size against the limit) and its executor.
void session::build(bool on_gpu, int32_t requested_mode, const session_config &cfg) {
  arena_.execute([&] { exec_.reset(); });
  graph_ = {};
  ws_.reset();
  stream_.reset();
  mode_ = resolve_sparse_mode(requested_mode, model_, on_gpu);
  const offload *off = on_gpu ? model_.gpu() : nullptr;
  if (off) stream_ = off->dev().make_stream();
  ws_ = std::make_unique<workspace>();
  build_inputs in;
  in.m = &model_;
  in.mode = mode_;
  in.n_batch = n_batch_;
  in.n_ctx = n_ctx_;
  in.gpu = off;
  in.stream = stream_.get();
  in.device_kv_bytes = off ? off->dev().kv_bytes() : sizeof(float);
  in.type_k = cfg.type_k;
  in.type_v = cfg.type_v;
  in.ws = ws_.get();
  in.st = &st_;
  in.thresholds = &thresholds_;
  in.taps.observer = cfg.observer;
  in.taps.fired = count_neurons_ ? &stats_.fired : nullptr;
  in.taps.expert_chosen = count_neurons_ && model_.hp().block.moe ? &stats_.expert_chosen : nullptr;
  in.taps.cats_samples = &cats_samples_;
  graph_ = build_graph(in);

  // What the session will hold on the host: the graph's buffers (KV cache included), its scratch at full size,
  // the last logits. Refused before anything is allocated.
  const hparams &hp = model_.hp();
  memory_bytes_ = ws_->host_bytes() + (uint64_t)hp.n_vocab * sizeof(float);
  const uint64_t available = available_memory();
  const uint64_t limit = cfg.memory_limit ? cfg.memory_limit : available;
  if (limit && memory_bytes_ > limit) {
    uint64_t kv = 0;  // the host's part: the caches of layers whose attention runs on the CPU
    for (int32_t il = 0; il < hp.n_layer; ++il)
      if (!off || !off->layers()[(size_t)il].attention)
        kv += (uint64_t)n_ctx_ * (row_bytes(cfg.type_k, hp.n_embd_kv()) + row_bytes(cfg.type_v, hp.n_embd_kv()));
    fail(HEARTH_ERR_OUT_OF_MEMORY,
         fmt::format("the session needs {:.1f} MiB of memory (of which {:.1f} MiB is the KV cache for n_ctx {}), more than the "
                     "{:.1f} MiB {}; lower n_ctx or n_batch",
                     memory_bytes_ / k_mib, kv / k_mib, n_ctx_, limit / k_mib, cfg.memory_limit ? "limit" : "available"));
  }
  ws_->allocate(off ? &off->dev() : nullptr);
  arena_.execute([&] { exec_ = std::make_unique<executor>(graph_, stream_.get(), &cancel_); });
}

session::~session() {
  arena_.execute([&] { exec_.reset(); });
}

std::string session::graph_dump() const { return graph_.dump(*ws_); }

void session::fit_cats_thresholds(float sparsity) {
  std::vector<int32_t> toks;
  model_.tok().encode(k_cats_text, true, false, toks);
  toks.resize(std::min(toks.size(), (size_t)std::min(n_ctx_, 128)));
  cats_samples_.assign((size_t)model_.hp().n_layer, {});
  st_.collect_cats = true;
  try {
    eval(toks.data(), (int32_t)toks.size(), false);
  } catch (...) {
    st_.collect_cats = false;
    throw;
  }
  st_.collect_cats = false;
  for (size_t il = 0; il < cats_samples_.size(); ++il) thresholds_[il] = cats_threshold(std::move(cats_samples_[il]), sparsity);
  cats_samples_.clear();
  reset();
  reset_stats();
  log(HEARTH_LOG_INFO, "CATS thresholds for {:.0f}% sparsity from {} tokens: layer 0 {:.4f}, last {:.4f}", 100 * sparsity,
      toks.size(), thresholds_.front(), thresholds_.back());
}

void session::reset() {
  n_past_ = 0;
  has_logits_ = false;
  drop_pending();
  unevaluated_ = -1;
  sampler_.clear_history();
}

void session::reset_stats() {
  stats_ = {};
  if (count_neurons_) {
    const hparams &hp = model_.hp();
    const size_t E = (size_t)std::max<int32_t>(1, hp.block.moe.n_expert);
    stats_.fired.assign((size_t)hp.n_layer * (size_t)hp.n_ff * E, 0);
    if (hp.block.moe) stats_.expert_chosen.assign((size_t)hp.n_layer * E, 0);
  }
}

void session::set_threshold(int32_t layer, float value) {
  if (layer < -1 || layer >= (int32_t)thresholds_.size())
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("layer {} does not exist (the model has {})", layer, thresholds_.size()));
  if (std::isnan(value)) fail(HEARTH_ERR_INVALID_ARGUMENT, "the threshold is NaN");
  if (layer == -1) std::fill(thresholds_.begin(), thresholds_.end(), value);
  else thresholds_[(size_t)layer] = value;
}

void session::eval(const int32_t *tokens, int32_t n, bool all_logits) {
  if (n <= 0 || !tokens) fail(HEARTH_ERR_INVALID_ARGUMENT, "no tokens to evaluate");
  const int32_t n_vocab = model_.hp().n_vocab;
  for (int32_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("token {} at index {} is outside the vocabulary of {}", tokens[i], i, n_vocab));
  if ((int64_t)n_past_ + n > n_ctx_)
    fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("context full: {} tokens evaluated + {} new > n_ctx {}", n_past_, n, n_ctx_));
  if (cancel_.exchange(false)) fail(HEARTH_ERR_CANCELLED, "cancelled");
  has_logits_ = false;
  n_logits_ = all_logits ? n : 1;
  n_evaluated_ = n;
  logits_.resize((size_t)n_logits_ * n_vocab);
  const int32_t start = n_past_;
  try {
    for (int32_t done = 0; done < n;) {
      const int32_t chunk = std::min(n_batch_, n - done);
      const bool last = done + chunk == n;
      float *out = all_logits ? logits_.data() + (size_t)done * n_vocab : (last ? logits_.data() : nullptr);
      forward(tokens + done, chunk, n_past_, all_logits, out);
      n_past_ += chunk;
      done += chunk;
    }
  } catch (...) {
    n_past_ = start;  // the chunks already written to the KV cache are forgotten with the rest
    throw;
  }
  has_logits_ = true;
}

void session::forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out) {
  st_.tokens = tokens;
  st_.n = n;
  st_.pos0 = pos0;
  st_.all_logits = all_logits;
  st_.logits = logits_out;
  st_.pos.resize((size_t)n);
  for (int32_t t = 0; t < n; ++t) st_.pos[(size_t)t] = pos0 + t;
  const auto t0 = clock_type::now();
  arena_.execute([&] { exec_->run(); });
  stats_.step_ms += ms_since(t0);
  account_step(graph_, *ws_, *exec_, n, stats_);
}

const float *session::logits(int32_t i) const {
  if (!has_logits_) return nullptr;
  if (i == -1) i = n_evaluated_ - 1;
  const int32_t row = i - (n_evaluated_ - n_logits_);  // without all_logits only the last token's row is kept
  if (row < 0 || row >= n_logits_) return nullptr;
  return logits_.data() + (size_t)row * model_.hp().n_vocab;
}

int32_t session::sample() {
  const float *l = logits(-1);
  if (!l) fail(HEARTH_ERR_INVALID_ARGUMENT, "nothing to sample from: evaluate tokens first");
  const int32_t t = sampler_.sample(l, model_.hp().n_vocab);
  sampler_.accept(t);
  return t;
}

void session::feed(const std::vector<int32_t> &tokens) {
  if (unevaluated_ >= 0) {
    pending_.insert(pending_.begin() + (long)pending_pos_, unevaluated_);
    unevaluated_ = -1;
  }
  pending_.insert(pending_.end(), tokens.begin(), tokens.end());
}

void session::drop_pending() {
  pending_.clear();
  pending_pos_ = 0;
}

int32_t session::step() {
  if (unevaluated_ >= 0) feed({});  // the end-of-generation token sampled last is context now
  if (pending() > 0) {
    const int32_t n = (int32_t)std::min<size_t>(pending(), (size_t)n_batch_);
    const auto t0 = clock_type::now();
    eval(pending_.data() + pending_pos_, n, false);
    for (int32_t i = 0; i < n; ++i) sampler_.accept(pending_[pending_pos_ + i]);
    pending_pos_ += (size_t)n;
    if (pending() == 0) drop_pending();
    perf_.n_prompt += n;
    perf_.prompt_ms += ms_since(t0);
    return -1;
  }
  const auto t0 = clock_type::now();
  const int32_t t = sample();
  if (model_.vocab_data().is_eog(t)) unevaluated_ = t;
  else eval(&t, 1, false);  // (eval refuses it with CONTEXT_FULL when the context is full)
  perf_.n_generated += 1;
  perf_.generate_ms += ms_since(t0);
  return t;
}

void session::generate(const std::vector<int32_t> &prompt, int32_t n_predict, bool stop_at_eog, const token_sink &on_token) {
  try {
    perf_ = {};
    feed(prompt);
    if (n_past_ + (int64_t)pending() > n_ctx_)
      fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("the prompt ({} tokens) does not fit the context ({} used of {})", pending(),
                                                n_past_, n_ctx_));
    while (pending() > 0) step();
    utf8_stream text;
    bool stopped = false;
    for (int32_t i = 0; i < n_predict; ++i) {
      if (n_past_ + (unevaluated_ >= 0) >= n_ctx_) fail(HEARTH_ERR_CONTEXT_FULL, fmt::format("context full after {} generated tokens", i));
      int32_t t;
      do t = step();  // (a step that evaluates an end-of-generation token sampled before returns -1)
      while (t < 0);
      if (model_.vocab_data().is_eog(t) && stop_at_eog) break;
      const std::string piece = text.push(model_.tok().piece(t, false));
      if (on_token && !on_token(t, piece)) {
        stopped = true;
        break;
      }
    }
    if (!stopped && text.holding() && on_token) on_token(-1, text.finish());
  } catch (...) {
    drop_pending();
    throw;
  }
}

}  // namespace hearth
