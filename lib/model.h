// A loaded model: hyper-parameters from metadata, the tokenizer, and views of the weights inside the memory map.
// Immutable after load, so any number of sessions on any threads may share it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "tokenizer.h"

namespace hearth {

// How an FFN turns gate/up into the hidden activation.
enum class ffn_kind {
  silu_gated,  // SwiGLU: silu(gate) * up (llama.cpp's llama)
  relu_gated,  // ReGLU: relu(gate) * up (ReluLLaMA, ProSparse; PowerInfer's llama)
  drelu,       // relu(gate) * relu(up) (Bamboo, TurboSparse)
  relu,        // relu(up), no gate (OPT/Falcon-style)
};
const char *ffn_kind_name(ffn_kind k);

struct hparams {
  std::string arch;
  int32_t n_vocab = 0, n_ctx_train = 0, n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_rot = 0;
  float rope_base = 10000.0f, rms_eps = 1e-5f;
  ffn_kind ffn = ffn_kind::silu_gated;
  int32_t head_dim() const { return n_embd / n_head; }
  int32_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

// A 2-D weight matrix: rows of cols elements, each row contiguous (ggml ne = {cols, rows}).
struct matrix {
  const gguf_tensor *t = nullptr;
  dtype type = dtype::f32;
  int64_t rows = 0, cols = 0;
  const uint8_t *data = nullptr;
  size_t row_size = 0;
  explicit operator bool() const { return t != nullptr; }
  const uint8_t *row(int64_t r) const { return data + r * row_size; }
  size_t bytes() const { return row_size * rows; }
};

struct layer {
  std::vector<float> attn_norm, ffn_norm;
  matrix wq, wk, wv, wo;
  matrix gate, up;   // gate absent for ffn_kind::relu
  matrix down;       // {n_ff} -> {n_embd}: n_embd rows of n_ff
  matrix down_t;     // PowerInfer's neuron-major transpose: n_ff rows of n_embd (used when down is absent)
  matrix fc1, fc2;   // PowerInfer's activation predictor: logits = fc2 . relu(fc1 . ffn_inp); fc1 r rows, fc2 n_ff rows
  float threshold = 0.0f;  // neuron i is computed iff its predictor logit >= threshold
};

class offload;

class model {
 public:
  ~model();
  // progress may be null; it returns false to cancel. Throws hearth::error.
  static std::unique_ptr<model> load(const std::string &path, bool vocab_only, bool prefault,
                                     int32_t (*progress)(float, void *), void *progress_user);

  const gguf_file &file() const { return *file_; }
  const hparams &hp() const { return hp_; }
  const tokenizer &vocab() const { return vocab_; }
  bool vocab_only() const { return vocab_only_; }

  const matrix &tok_embd() const { return tok_embd_; }
  const matrix &output() const { return output_; }
  const std::vector<float> &output_norm() const { return output_norm_; }
  const std::vector<layer> &layers() const { return layers_; }

  // Every layer has fc1/fc2 and ffn_down_t: the file can run predictor-gated sparse inference.
  bool has_predictors() const { return has_predictors_; }
  // Every layer stores its down projection neuron-major (ffn_down_t), so skipped neurons skip their down rows.
  bool neuron_major() const { return neuron_major_; }

  // The part of the model in VRAM (nullptr: CPU only). Set once after loading, before any session exists.
  const offload *gpu() const { return offload_.get(); }
  void set_offload(std::unique_ptr<offload> o);

  uint64_t n_params() const { return n_params_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Bytes of weights one decoded token reads: every matrix once, plus one embedding row.
  uint64_t bytes_per_token() const;
  std::string describe() const;

 private:
  void load_hparams();
  void load_weights();
  matrix get_matrix(const std::string &name, int64_t cols, int64_t rows, bool required);
  std::vector<float> get_vector(const std::string &name, int64_t n);

  std::unique_ptr<gguf_file> file_;
  hparams hp_;
  tokenizer vocab_;
  bool vocab_only_ = false;
  matrix tok_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<layer> layers_;
  uint64_t n_params_ = 0, weight_bytes_ = 0;
  bool has_predictors_ = false, neuron_major_ = false;
  std::unique_ptr<offload> offload_;
};

}  // namespace hearth
