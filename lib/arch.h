// Architectures: `general.architecture` selects a unit (one file per architecture under lib/arch/, as llama.cpp's
// src/models/<arch>.cpp) that reads its hyper-parameters, chooses the pieces of its block (block_spec in model.h)
// and declares its tensors. The graph builder (blocks.cpp) composes the block from those pieces, on the CPU and in
// the hybrid graph alike, so an architecture that differs from llama only in parameters is one new file and a row
// in the registry (arch.cpp); docs/architecture.md walks through it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "model.h"
#include "names.h"

namespace hearth {

// Reads the weights of a model for its architecture unit, checking each tensor's presence, shape and type:
// a missing required tensor or a wrong shape is BAD_FORMAT naming it, a type hearth cannot compute is UNSUPPORTED
// naming the type and the tensor. Counts parameters and bytes.
class tensor_loader {
 public:
  tensor_loader(model &m, const gguf_file &f) : m_(m), f_(f) {}
  const gguf_file &file() const { return f_; }

  // A 2-D matrix of `rows` rows of `cols` elements (absent and not required: an empty matrix).
  matrix matrix_of(tensor t, int layer, int64_t cols, int64_t rows, bool required = true);
  // A vector of n floats (a bias: suffix "bias"); absent and not required: empty.
  std::vector<float> vector_of(tensor t, int layer, int64_t n, bool required, std::string_view suffix = "weight");
  // A norm's weight and, where the file has one, its bias.
  norm_weights norm_of(tensor t, int layer, int64_t n, bool required = true);
  // A tensor of any rank with exactly the shape ne (ggml order; MoE experts are 3-D); nullptr if absent and not
  // required.
  const gguf_tensor *tensor_of(tensor t, int layer, std::initializer_list<int64_t> ne, bool required = true);
  // The down projection: ffn_down (n_embd rows of n_ff) or PowerInfer's neuron-major ffn_down_t.
  void ffn_down(layer &L, int il, int64_t n_embd, int64_t n_ff);
  // A 3-D tensor of `count` matrices of `rows` rows of `cols` (ggml ne {cols, rows, count}), as one view each.
  std::vector<matrix> matrices_of(tensor t, int layer, int64_t cols, int64_t rows, int64_t count, bool required = true);

  // The parts of the model a unit fills.
  matrix &tok_embd() { return m_.tok_embd_; }
  matrix &pos_embd() { return m_.pos_embd_; }
  matrix &output() { return m_.output_; }
  norm_weights &output_norm() { return m_.output_norm_; }
  std::vector<layer> &layers() { return m_.layers_; }

 private:
  const gguf_tensor *find(tensor t, int layer, std::string_view suffix, bool required, std::string *name);
  void count(const gguf_tensor &t, int64_t elements);
  void check_type(const gguf_tensor &t, const std::string &name) const;
  model &m_;
  const gguf_file &f_;
};

struct arch_unit {
  const char *name;  // the general.architecture value
  // Reads the hyper-parameters (hp.n_vocab is already the vocabulary's size) and chooses the block's pieces.
  void (*load_hparams)(const gguf_file &f, hparams &hp);
  // Declares the tensors: the embedding, output and norms, and every layer's (hp.n_layer layers, allocated).
  void (*load_tensors)(tensor_loader &l, hparams &hp);
};

// The unit of an architecture name; nullptr if there is none.
const arch_unit *find_arch(std::string_view name);
// The names hearth runs, for messages ("llama, bamboo").
std::string arch_names();
// C++ embedders and tests may add an architecture of their own before loading a model that names it (not in
// the C ABI). The unit must outlive every model that uses it.
void register_arch(const arch_unit &unit);

// Pieces of the llama family (arch/llama.cpp), for the units that share them.
// Reads `<arch>.*` as llama.cpp's converter writes them; bounds-checks each value.
void llama_hparams(const gguf_file &f, hparams &hp);
// Reads token_embd, output_norm, output (tied to the embedding when absent) and each layer's attention and FFN
// tensors in llama's layout.
void llama_tensors(tensor_loader &l, hparams &hp);
// The file's RoPE (rope.freq_base, rope.scaling.*, the rope_freqs or rope_factors_short tensor) for hp.n_rot
// dims; an unknown scaling type is UNSUPPORTED naming it. The kind is the unit's (block.rope, set after load).
rope_scaling read_rope_scaling(const gguf_file &f, const hparams &hp);
// A tensor of n_rot / 2 per-pair RoPE factors (F32, positive), or empty when the file has none.
std::vector<float> rope_factors(const gguf_file &f, tensor which, const hparams &hp);
// Pieces of Gemma (arch/gemma2.cpp), for gemma3: the llama keys and Gemma's block (NeoX, embedding scale,
// post-norms, GeGLU, the score scale by the 27B layer count), layers sliding unless il % swa_pattern is the last.
void gemma_hparams(const gguf_file &f, hparams &hp, int32_t swa_pattern, int32_t n_layer_27b);
// llama's tensors and the two post-norms of each layer.
void gemma_tensors(tensor_loader &l, hparams &hp);
// Pieces any unit may take: token_embd, output_norm and output (tied to the embedding when absent); a layer's
// attn_norm, Q, K, V, O and their biases (required or optional); a fused QKV's rows as Q, K and V views; every
// layer's Q/K head norms; LayerNorm with <arch>.attention.layer_norm_epsilon.
void io_tensors(tensor_loader &l, const hparams &hp);
void attention_tensors(tensor_loader &l, layer &L, int32_t il, const hparams &hp, bool biases);
void fused_qkv(tensor_loader &l, layer &L, int32_t il, const hparams &hp);
void qk_norm_tensors(tensor_loader &l, const hparams &hp);
void layer_norm_hparams(const gguf_file &f, hparams &hp);
// Every layer has Q, K and V biases (Qwen 2's units); BAD_FORMAT naming the first one missing.
void require_qkv_biases(tensor_loader &l, const hparams &hp);
// Pieces of a mixture of experts (arch/experts.cpp). moe_hparams reads <arch>.expert_count (absent or 0: a
// dense FFN), expert_used_count, expert_feed_forward_length (the experts' n_ff; default feed_forward_length),
// expert_shared_feed_forward_length, expert_gating_func, expert_weights_norm (default norm_weights, the
// architecture's as llama.cpp builds it) and expert_weights_scale. moe_tensors reads a layer's router, its
// experts (ffn_{gate,up,down}_exps; down row-major as llama.cpp stores it, or neuron-major per expert, which
// PowerInfer's SmallThinker files mark by giving it up's shape) and, if the hparams have one, the shared expert.
// An architecture that is always a mixture passes `required`: no expert_count is then BAD_FORMAT naming it.
void moe_hparams(const gguf_file &f, hparams &hp, bool norm_weights, bool required = false);
void moe_tensors(tensor_loader &l, layer &L, int32_t il, const hparams &hp);
// A required unsigned key within [lo, hi]; BAD_FORMAT naming it otherwise.
int32_t hparam(const gguf_file &f, kv k, std::string_view arch, uint64_t lo, uint64_t hi);
// The same, or def when the key is absent.
int32_t hparam_or(const gguf_file &f, kv k, std::string_view arch, uint64_t lo, uint64_t hi, int32_t def);

}  // namespace hearth
