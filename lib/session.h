// A session: the KV cache, the position, scratch buffers, the sampler and the queued input of one conversation,
// the sparse mode and its neuron tables, and the operator graph that evaluates a batch. Used by one thread at a
// time; runs its parallel work in its own oneTBB task_arena.
#pragma once
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "executor.h"
#include "memory.h"
#include "model.h"
#include "neuron_table.h"
#include "ops.h"
#include "predictor.h"
#include "sampler.h"
#include "sparse_ffn.h"

namespace hearth {

// Sees each layer's FFN in dense mode: the FFN's input residual (before its norm, what a predictor reads) and the
// activations (zero = the neuron did not fire), n tokens of n_embd and n_ff. Used by the calibration profiler.
class ffn_observer {
 public:
  virtual ~ffn_observer() = default;
  virtual void on_ffn(int32_t layer, const float *x, const float *act, int64_t n) = 0;
};

struct session_config {
  int32_t n_ctx = 0, n_batch = 256, n_threads = 0;
  ffn_observer *observer = nullptr;  // dense mode only; must outlive the session
  int32_t sparse_mode = 0;     // 0 auto, else a sparse_mode value
  float cats_sparsity = 0.5f;  // target fraction of skipped neurons in CATS mode
  bool count_neurons = false;  // keep per-neuron firing counts (sparse_stats::fired)
};

struct perf_counters {
  int32_t n_prompt = 0, n_generated = 0;
  double prompt_ms = 0, generate_ms = 0;
};

// What the FFNs actually did, over every evaluated token since the last reset_stats().
struct sparse_stats {
  uint64_t tokens = 0;          // tokens evaluated
  uint64_t decode_tokens = 0;   // of which in one-token steps
  uint64_t active = 0;          // active neuron-layers summed over tokens
  uint64_t neurons = 0;         // neuron-layers summed over tokens (n_ff x n_layer per token)
  double decode_bytes = 0;      // weight bytes read by one-token steps (FFN and predictor, both devices)
  uint64_t gpu_active = 0;      // of `active`, those computed on the GPU
  double gpu_decode_bytes = 0;  // weight bytes the GPU read in one-token steps (attention and output included)
  double predictor_ms = 0, step_ms = 0;
  double attention_ms = 0, mask_ms = 0, ffn_ms = 0, output_ms = 0;  // per operator kind, all steps
  double gpu_wait_ms = 0;  // host threads waiting for the GPU (hybrid sessions)
  // With session_config::count_neurons: per layer and neuron, how many tokens computed it (sparse modes) or gave
  // it a nonzero activation (dense), n_layer x n_ff.
  std::vector<uint64_t> fired;
};

struct session_gpu;
class device_event;

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
  bool uses_gpu() const { return gpu_ != nullptr; }

  void reset();
  void request_cancel() { cancel_.store(true); }
  // Evaluates tokens after n_past (in n_batch chunks). Throws hearth::error.
  void eval(const int32_t *tokens, int32_t n, bool all_logits);
  const float *logits(int32_t i) const;  // i = -1: last token

  sampler &smp() { return sampler_; }
  int32_t sample();  // from the last logits, and remembers the token

  void feed(const std::vector<int32_t> &tokens) { pending_.insert(pending_.end(), tokens.begin(), tokens.end()); }
  size_t pending() const { return pending_.size() - pending_pos_; }
  int32_t step();  // see hearth_session_step: -1 after evaluating queued input, else the sampled token

  // Sparse control and measurement.
  void set_threshold(int32_t layer, float value);  // layer -1: every layer
  float threshold(int32_t layer) const { return thresholds_[(size_t)layer]; }
  const sparse_stats &stats() const { return stats_; }
  void reset_stats();
  // Weight bytes a one-token step reads outside the FFNs (attention, norms, output, one embedding row).
  double non_ffn_bytes() const;

  perf_counters &perf() { return perf_; }
  std::string last_error;

  // The operators the executor's nodes run, on the current batch.
  void op_embed();
  void op_attention_in(int32_t il);
  void op_attend(int32_t il);
  void op_attention_out(int32_t il);
  void op_ffn_norm(int32_t il);
  void op_ffn_mask(int32_t il);
  void op_ffn(int32_t il);
  void op_output();
  // The hybrid executor's operators (a model with a GPU part): per layer attention (on the GPU or the CPU, with
  // the predictor), the FFN's GPU half (enqueued), its CPU half, and the merge; then the output.
  void op_layer_attention(int32_t il);
  void op_ffn_gpu(int32_t il);
  void op_ffn_cpu(int32_t il);
  void op_ffn_merge(int32_t il);
  void op_output_gpu();

 private:
  void forward(const int32_t *tokens, int32_t n, int32_t pos0, bool all_logits, float *logits_out);
  void calibrate_cats(float sparsity);
  void check_cancel();
  void ffn_compute(int32_t il);  // ffo_ = the FFN over the layer's CPU neurons
  void gpu_open();
  void gpu_attention(int32_t il);
  void ensure_x_dev();
  void gpu_wait(device_event *e);  // nullptr: the whole stream
  void count_gpu_neurons(int32_t il, uint64_t hot);  // the GPU's active neurons of a layer into the stats
  void ensure_x_host();
  float *kcache(int32_t il) { return k_.get() + (size_t)il * n_ctx_ * kv_width_; }
  float *vcache(int32_t il) { return v_.get() + (size_t)il * n_ctx_ * kv_width_; }

  const model &model_;
  int32_t n_ctx_, n_batch_, n_threads_;
  int64_t kv_width_;
  tbb::task_arena arena_;
  std::atomic<bool> cancel_{false};
  aligned_buffer<float> k_, v_;  // [layer][position][kv width]
  int32_t n_past_ = 0;
  std::vector<float> logits_;
  int32_t n_logits_ = 0;
  bool has_logits_ = false;
  sampler sampler_;
  std::vector<int32_t> pending_;
  size_t pending_pos_ = 0;
  perf_counters perf_;

  // sparse state
  sparse_mode mode_;
  std::vector<neuron_table> tables_;
  std::vector<float> thresholds_;
  bool calibrating_ = false;
  bool count_neurons_ = false;
  ffn_observer *observer_ = nullptr;
  std::vector<std::vector<float>> calib_samples_;
  sparse_stats stats_;

  // the current batch
  const int32_t *tokens_ = nullptr;
  int64_t n_ = 0;
  int32_t pos0_ = 0;
  bool all_logits_ = false;
  float *logits_out_ = nullptr;
  std::vector<int32_t> pos_;

  // scratch
  std::vector<float> x_, xn_, q_, kk_, vv_, att_, gate_, up_, ffo_, hidden_, plogits_;
  q8_scratch qscratch_, qscratch_pred_;
  ffn_masks masks_;
  std::vector<int32_t> cpu_active_;
  sparse_scratch sparse_;
  std::unique_ptr<session_gpu> gpu_;  // declared before exec_: the graph's operators use it
  std::unique_ptr<executor> exec_;
};

}  // namespace hearth
