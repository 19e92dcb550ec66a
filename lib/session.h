// A session: one conversation's state (the KV cache and position, the sampler, queued input, the FFN thresholds
// and statistics) and the graph that evaluates a batch, with its buffers and its executor. Used by one thread at a
// time; runs its parallel work in its own oneTBB task_arena. The session refers to its model, which must outlive
// it (the C ABI keeps the model alive for its sessions).
#pragma once
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "accounting.h"
#include "graph.h"
#include "graph_builder.h"
#include "model.h"
#include "sampler.h"
#include "sparse_mode.h"

namespace hearth {

class device_stream;
class executor;

struct session_config {
  int32_t n_ctx = 0, n_batch = 256, n_threads = 0;
  ffn_observer *observer = nullptr;  // dense mode only; must outlive the session
  int32_t sparse_mode = 0;     // 0 auto, else a sparse_mode value
  float cats_sparsity = 0.5f;  // target fraction of skipped neurons in CATS mode
  bool count_neurons = false;  // keep per-neuron firing counts (sparse_stats::fired)
  // Host memory the session may take (its KV cache, buffers and scratch, estimated before anything is
  // allocated): 0 = what the machine has available, UINT64_MAX = no limit.
  uint64_t memory_limit = 0;
  // The host KV cache's element types (F32, F16 or Q8_0); a GPU layer's cache has the device's type.
  dtype type_k = dtype::f16, type_v = dtype::f16;
};

struct perf_counters {
  int32_t n_prompt = 0, n_generated = 0;
  double prompt_ms = 0, generate_ms = 0;
};

class session {
 public:
  session(const model &m, const session_config &cfg);
  ~session();

  const model &mdl() const { return model_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_batch() const { return n_batch_; }
  int32_t n_threads() const { return n_threads_; }
  int32_t n_past() const { return n_past_; }
  sparse_mode mode() const { return mode_; }
  bool hybrid() const { return stream_ != nullptr; }  // runs the hybrid CPU-GPU graph
  uint64_t memory_bytes() const { return memory_bytes_; }  // host memory estimated (and limited) at creation
  std::string graph_dump() const;

  // Forgets every evaluated token and anything queued; keeps the sampler settings.
  void reset();
  // Keeps the first n_keep evaluated tokens (0 <= n_keep <= n_past) and forgets the rest, with anything queued and,
  // unless nothing was dropped, the last logits. The sampler's history is kept as it is.
  void truncate(int32_t n_keep);

  // The session's state (session_state.cpp): its context (n_past and those positions of every layer's KV cache),
  // the last logits, the queued input and the sampler's generator and history, in a versioned, checksummed
  // byte format. load_state() checks the whole buffer against this session (model, cache types, n_ctx) before it
  // changes anything, so a refused state leaves the session as it was.
  size_t state_bytes() const;
  void save_state(uint8_t *out, size_t cap);  // cap >= state_bytes(), else HEARTH_ERR_BUFFER_TOO_SMALL
  void load_state(const uint8_t *data, size_t size);
  void request_cancel() { cancel_.store(true); }
  // Evaluates tokens after n_past (in n_batch chunks). Throws hearth::error; a failed call leaves the session as it
  // was before it (n_past unchanged, no logits), whatever chunk failed.
  void eval(const int32_t *tokens, int32_t n, bool all_logits);
  const float *logits(int32_t i) const;  // i = -1: last token

  sampler &smp() { return sampler_; }
  uint64_t sampler_seed() const { return sampler_.seed(); }
  int32_t sample();  // from the last logits, and remembers the token

  // Queues tokens (evaluated by later steps). A sampled end-of-generation token not yet evaluated goes first.
  void feed(const std::vector<int32_t> &tokens);
  size_t pending() const { return pending_.size() - pending_pos_; }
  void drop_pending();
  // One bounded piece of work (hearth_session_step): evaluates at most n_batch queued tokens and returns -1, or
  // samples a token and evaluates it (an end-of-generation token is evaluated by the next step or feed instead,
  // so that stopping at it costs nothing) and returns it.
  int32_t step();
  // Tokenized prompt after what the session holds, then up to n_predict tokens; on_token(token, text) gets each
  // token's text as valid UTF-8 (a character split over tokens comes with its last token; at the end, bytes of an
  // unfinished character come as U+FFFD with token -1) and returns false to stop. On any failure nothing stays
  // queued.
  using token_sink = std::function<bool(int32_t token, std::string_view text)>;
  void generate(const std::vector<int32_t> &prompt, int32_t n_predict, bool stop_at_eog, const token_sink &on_token);

  // Sparse control and measurement.
  void set_threshold(int32_t layer, float value);  // layer -1: every layer
  float threshold(int32_t layer) const { return thresholds_[(size_t)layer]; }
  const sparse_stats &stats() const { return stats_; }
  void reset_stats();

  perf_counters &perf() { return perf_; }
  std::string last_error;

 private:
  void build(bool on_gpu, int32_t requested_mode, const session_config &cfg);
  void forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out);
  void fit_cats_thresholds(float sparsity);
  size_t write_state(uint8_t *out) const;  // session_state.cpp: the state's bytes, or (out == nullptr) their count

  const model &model_;
  int32_t n_ctx_, n_batch_, n_threads_;
  tbb::task_arena arena_;
  std::atomic<bool> cancel_{false};
  int32_t n_past_ = 0;
  std::vector<float> logits_;
  int32_t n_logits_ = 0;     // rows kept: the last eval's tokens, or its last token alone
  int32_t n_evaluated_ = 0;  // tokens of the last eval
  bool has_logits_ = false;
  sampler sampler_;
  std::vector<int32_t> pending_;
  size_t pending_pos_ = 0;
  int32_t unevaluated_ = -1;  // a sampled end-of-generation token, evaluated before anything that follows
  perf_counters perf_;

  sparse_mode mode_ = sparse_mode::dense;
  std::vector<float> thresholds_;
  std::vector<std::vector<float>> cats_samples_;
  sparse_stats stats_;
  bool count_neurons_ = false;
  uint64_t memory_bytes_ = 0;

  // Declared in this order so the executor goes first, then the buffers it uses, then the stream they were
  // enqueued on.
  std::unique_ptr<device_stream> stream_;
  std::unique_ptr<workspace> ws_;
  step_state st_;
  graph graph_;
  std::unique_ptr<executor> exec_;
};

}  // namespace hearth
