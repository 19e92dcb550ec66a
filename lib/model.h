// A loaded model: hyper-parameters and the block's pieces (from its architecture unit, arch.h), the vocabulary
// and its tokenizer, views of the weights inside the memory map, and the part placed on the GPU at load.
// Immutable after load, so any number of sessions on any threads may share it.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf.h"
#include "memory.h"
#include "offload_config.h"
#include "rope.h"
#include "tokenizer.h"
#include "vocab.h"

namespace hearth {

// ---- the parameterised pieces of a transformer block -------------------------------------------------------

enum class norm_kind : uint8_t {
  rms,    // x / sqrt(mean(x^2) + eps) * w
  layer,  // (x - mean) / sqrt(var + eps) * w + b (b optional)
};
enum class activation : uint8_t { silu, gelu, relu, relu_sq };
const char *activation_name(activation a);

// How an FFN turns gate/up into the hidden activation of each neuron.
struct ffn_form {
  activation act = activation::silu;
  bool gated = true;       // act(gate) * up; without a gate, act(up)
  bool act_on_up = false;  // dReLU (Bamboo, TurboSparse): act(gate) * act(up)
  // Exact zeros: a neuron whose gate (or, without a gate, up) is <= 0 contributes nothing.
  bool relu_family() const { return act == activation::relu || act == activation::relu_sq; }
  std::string name() const;         // "silu-gated", "relu", "drelu", ...
  const char *family() const;       // the literature's name: "SwiGLU", "ReGLU", "dReLU", "GeGLU", "ReLU", ...
  bool operator==(const ffn_form &o) const { return act == o.act && gated == o.gated && act_on_up == o.act_on_up; }
};
// The values of hearth.ffn_activation, from one table: the loader reads them (arch/llama.cpp), calibrate writes
// them back.
bool ffn_form_from_key(std::string_view key, ffn_form *out);  // false: no such value
const char *ffn_form_key(const ffn_form &f);                  // nullptr: no value names the form

inline float act_value(activation a, float v) {
  switch (a) {
    case activation::silu: return v / (1.0f + std::exp(-v));
    case activation::gelu: return 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
    case activation::relu: return v > 0.0f ? v : 0.0f;
    case activation::relu_sq: return v > 0.0f ? v * v : 0.0f;
  }
  return 0.0f;
}
// One neuron's activation from its gate and up values (gate unused without a gate).
inline float ffn_act(const ffn_form &f, float g, float u) {
  if (!f.gated) return act_value(f.act, u);
  const float a = act_value(f.act, g);
  if (f.act_on_up) return a != 0.0f ? a * act_value(f.act, u) : 0.0f;
  return a != 0.0f ? a * u : 0.0f;
}

// A mixture-of-experts FFN (Mixtral, Qwen-MoE): a router picks n_used of n_expert FFNs per token and weights
// their outputs, as llama.cpp's build_moe_ffn: probabilities by softmax (or sigmoid) of the router's logits, the
// top n_used of them, optionally divided by their sum, then times weights_scale.
enum class expert_gating : uint8_t { softmax, sigmoid };
struct moe_spec {
  int32_t n_expert = 0, n_used = 0;  // 0: a dense FFN
  expert_gating gating = expert_gating::softmax;
  bool norm_weights = false;   // the chosen experts' weights divided by their sum
  float weights_scale = 0.0f;  // then times this; 0: 1
  // The router reads the layer's input before the attention (SmallThinker, so experts can be fetched early), not
  // the FFN's normed input.
  bool router_reads_input = false;
  explicit operator bool() const { return n_expert > 0; }
};

// The block of one architecture, built from these pieces by the graph builder (blocks.cpp).
struct block_spec {
  norm_kind norm = norm_kind::rms;
  float norm_eps = 1e-5f;
  rope_kind rope = rope_kind::normal;
  bool parallel = false;  // attention and FFN both read the block's normed input; x += attention + FFN (Falcon)
  bool qk_norm = false;   // RMS norm over each head of Q and K before RoPE (Qwen3)
  float embd_scale = 0.0f;  // the embedding row times this (Gemma: sqrt(n_embd)); 0: none
  int32_t pos_offset = 0;   // learned positions (the model has position_embd): row pos + pos_offset (OPT: 2)
  float attn_scale = 0.0f;  // the attention's score scale; 0: 1 / sqrt(head_dim)
  float attn_softcap = 0.0f;   // scores become c * tanh(s / c) before the softmax (Gemma 2); 0: none
  float final_softcap = 0.0f;  // the same on the logits (Gemma 2)
  ffn_form ffn;  // a dense FFN's, or each expert's
  moe_spec moe;  // every layer's FFN is a mixture of experts (each of hparams::n_ff neurons)
};

// How one layer attends: the shape of its heads and the block's score transform, and its window.
struct attention_spec {
  int32_t n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 0.0f;    // score = scale * q.k
  float softcap = 0.0f;  // then softcap * tanh(score / softcap); 0: none
  int32_t window = 0;    // a query at p sees keys p - window + 1 .. p (sliding-window layers); 0: all before it
};

struct hparams {
  std::string arch;
  int32_t n_vocab = 0, n_ctx_train = 0, n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_rot = 0;
  int32_t n_embd_head = 0;  // per head (key_length; n_embd / n_head unless the architecture says otherwise)
  int32_t n_ff_shared = 0;  // an MoE layer's shared expert (0: none); n_ff is then each routed expert's width
  block_spec block;
  // RoPE of every layer, of the sliding-window layers when they differ (Gemma 3: base 10000, no scaling), and for
  // a context beyond n_ctx_orig when the file has long factors (Phi-3's rope_factors_long).
  rope_spec rope, rope_swa, rope_long;
  int32_t n_ctx_orig = 0;     // the context the RoPE was trained on (rope.scaling.original_context_length)
  int32_t n_swa = 0;          // the sliding window (attention.sliding_window); 0: none
  std::vector<uint8_t> swa;   // per layer: 1 if the layer attends within the window
  std::vector<uint8_t> nope;  // per layer: 1 if the layer applies no RoPE (SmallThinker's global layers)
  bool is_swa(int32_t il) const { return n_swa > 0 && (size_t)il < swa.size() && swa[(size_t)il]; }
  const rope_spec &rope_of(int32_t il, int32_t n_ctx) const {
    static const rope_spec none;  // inactive: every device's rope leaves the values as they are
    if ((size_t)il < nope.size() && nope[(size_t)il]) return none;
    if (is_swa(il) && rope_swa.active()) return rope_swa;
    if (rope_long.active() && n_ctx > n_ctx_orig) return rope_long;
    return rope;
  }
  attention_spec attention_of(int32_t il) const {
    const float s = block.attn_scale > 0 ? block.attn_scale : 1.0f / std::sqrt((float)n_embd_head);
    return {n_head, n_head_kv, n_embd_head, s, block.attn_softcap, is_swa(il) ? n_swa : 0};
  }
  int32_t head_dim() const { return n_embd_head; }
  int32_t n_embd_q() const { return n_head * n_embd_head; }
  int32_t n_embd_kv() const { return n_head_kv * n_embd_head; }
};

// ---- weights -------------------------------------------------------------------------------------------------

// A 2-D weight matrix: rows of cols elements, each row contiguous (ggml ne = {cols, rows}). May be a range of
// rows of a larger tensor (a fused QKV or gate/up tensor).
struct matrix {
  const gguf_tensor *t = nullptr;
  dtype type = dtype::f32;
  int64_t rows = 0, cols = 0;
  const uint8_t *data = nullptr;
  size_t row_size = 0;
  // The same rows as row groups (row_groups.h) for decode's one-token product, in memory the model owns; null
  // when the model keeps the matrix as the file has it. data stays valid either way (the file's pages may have
  // been handed back to the OS, so reading them costs a page fault).
  const uint8_t *groups = nullptr;
  explicit operator bool() const { return data != nullptr; }
  const uint8_t *row(int64_t r) const { return data + r * row_size; }
  size_t bytes() const { return row_size * rows; }
  matrix rows_range(int64_t first, int64_t count) const;  // a view of rows [first, first + count)
};

// Norm weights (and bias, for LayerNorm), as floats: they are tiny, and one type keeps every kernel simple.
struct norm_weights {
  std::vector<float> w, b;
  explicit operator bool() const { return !w.empty(); }
  size_t bytes() const { return (w.size() + b.size()) * sizeof(float); }
};

// The weights of one FFN: a layer's dense FFN, or one expert of a mixture (views into the 3-D expert tensors).
struct ffn_weights {
  matrix gate, up;   // gate absent for an FFN without one
  matrix down;       // {n_ff} -> {n_embd}: n_embd rows of n_ff
  matrix down_t;     // PowerInfer's neuron-major transpose: n_ff rows of n_embd (when down is absent)
  std::vector<float> bgate, bup, bdown;
  explicit operator bool() const { return bool(up); }
  // One neuron's rows of up, gate and ffn_down_t (an absent matrix has row_size 0).
  uint64_t neuron_bytes() const { return up.row_size + gate.row_size + down_t.row_size; }
  uint64_t bytes() const {
    return gate.bytes() + up.bytes() + (down ? down : down_t).bytes() + (bgate.size() + bup.size() + bdown.size()) * sizeof(float);
  }
};

// A mixture of experts: the router, the experts, and the shared expert some architectures add.
struct moe_weights {
  matrix router;                     // ffn_gate_inp: n_expert rows of n_embd
  std::vector<ffn_weights> experts;  // expert e's rows of ffn_{gate,up,down}_exps
  ffn_weights shared;                // ffn_{gate,up,down}_shexp (Qwen2-MoE), if present
  std::vector<float> shared_gate;    // ffn_gate_inp_shexp: the shared expert's output times sigmoid(this . x)
  // Per expert, PowerInfer's predictor over the layer's FFN input before its norm (fc1_exps, fc2_exps: hearth's
  // names, the 3-D form of fc1/fc2; the layer's threshold applies), if the file has them.
  std::vector<matrix> fc1, fc2;
  explicit operator bool() const { return !experts.empty(); }
};

// A layer's weights; its dense FFN's are the ffn_weights it is made of (empty in a mixture-of-experts layer).
struct layer : ffn_weights {
  norm_weights attn_norm, attn_norm_2, ffn_norm;  // attn_norm_2: the FFN's own norm in a parallel block
  matrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv, bo;  // biases (empty: none)
  norm_weights q_norm, k_norm;        // per-head norms of Q and K (head_dim weights)
  norm_weights attn_post_norm, ffn_post_norm;  // on the attention's and the FFN's outputs (Gemma), if present
  moe_weights moe;                    // a mixture-of-experts FFN in place of the dense one
  matrix fc1, fc2;  // PowerInfer's activation predictor: logits = fc2 . relu(fc1 . x); fc1 r rows, fc2 n_ff rows
  float threshold = 0.0f;  // neuron i is computed iff its predictor logit >= threshold
  // The norm before the FFN: a parallel block reads the attention's input through its second norm, or the same one.
  const norm_weights &ffn_input_norm(bool parallel) const {
    if (!parallel) return ffn_norm;
    return attn_norm_2 ? attn_norm_2 : attn_norm;
  }
  uint64_t attention_bytes() const;  // weights of the attention part (norms, Q, K, V, O, biases)
  uint64_t ffn_bytes() const;        // gate, up, down (or down_t) and their biases, not the predictor
};

struct arch_unit;
class offload;

struct model_config {
  bool vocab_only = false;  // only the vocabulary (no weights needed in the file)
  bool prefault = false;    // read all weights once at load so first tokens do not page-fault
  int32_t (*progress)(float, void *) = nullptr;  // may be null; returns 0 to cancel
  void *progress_user = nullptr;
  offload_config offload;   // what goes to the GPU (default: nothing)
  // Repack the matrices every decoded token reads whole into the CPU tier's row groups (model::repack_for_decode)
  bool repack = true;
  model_config() { offload.mode = (int32_t)offload_mode::none; }
};

class model {
 public:
  ~model();
  // The model and, as the config asks, its GPU part, in one call. Throws hearth::error.
  static std::shared_ptr<const model> load(const std::string &path, const model_config &cfg = {});

  const gguf_file &file() const { return *file_; }
  const arch_unit &arch() const { return *arch_; }
  const hparams &hp() const { return hp_; }
  const vocab &vocab_data() const { return vocab_; }
  const tokenizer &tok() const { return *tok_; }
  bool vocab_only() const { return vocab_only_; }

  const matrix &tok_embd() const { return tok_embd_; }
  const matrix &pos_embd() const { return pos_embd_; }  // learned positions (OPT); empty for RoPE models
  const matrix &output() const { return output_; }
  const norm_weights &output_norm() const { return output_norm_; }
  const std::vector<layer> &layers() const { return layers_; }

  // Every layer has fc1/fc2 and ffn_down_t: the file can run predictor-gated sparse inference.
  bool has_predictors() const { return has_predictors_; }
  // Every layer stores its down projection neuron-major (ffn_down_t), so skipped neurons skip their down rows.
  bool neuron_major() const { return neuron_major_; }

  // The part of the model in VRAM (nullptr: CPU only), decided in load().
  const offload *gpu() const { return offload_.get(); }
  // Bytes of weights repacked into row groups at load (they replace the file's pages of those matrices in memory).
  uint64_t repacked_bytes() const { return repacked_bytes_; }

  uint64_t n_params() const { return n_params_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Weight bytes one decoded token reads densely: every layer's weights and the output once, one embedding row.
  uint64_t dense_bytes_per_token() const;
  // The same, split by weight type (a mixed file reads Q4_K, Q6_K, ...; norms and biases count as F32), largest first.
  std::vector<std::pair<dtype, uint64_t>> dense_bytes_by_type() const;
  // "Q4_K" or, for a file of several matrix types, "Q4_K + Q6_K + Q8_0" (most bytes first).
  std::string weight_types() const;
  std::string describe() const;

 private:
  friend class tensor_loader;
  model() = default;

  std::unique_ptr<gguf_file> file_;
  const arch_unit *arch_ = nullptr;
  hparams hp_;
  vocab vocab_;
  std::unique_ptr<tokenizer> tok_;
  bool vocab_only_ = false;
  matrix tok_embd_, pos_embd_, output_;
  norm_weights output_norm_;
  std::vector<layer> layers_;
  uint64_t n_params_ = 0, weight_bytes_ = 0;
  bool has_predictors_ = false, neuron_major_ = false;
  std::unique_ptr<offload> offload_;
  std::vector<os_buffer> groups_;  // what matrix::groups point into
  uint64_t repacked_bytes_ = 0;

  // The matrices the CPU reads whole for every token, of a type whose decode measured faster from row groups
  // (lib/repack.cpp: Q4_0) and the chosen tier has row-group kernels for, into row groups: every layer's Q, K, V and O unless on the GPU, the output matrix unless on the GPU, and the FFN's
  // gate, up and down when a CPU session runs it dense by default (no predictors, not ReLU-family with neuron-major
  // rows: a sparse FFN gathers rows, which groups do not hold) and no part of it is on the GPU. The file's pages of
  // those matrices are handed back (their rows can still be read, at the cost of a page fault).
  void repack_for_decode();
};

}  // namespace hearth
