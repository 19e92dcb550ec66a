// opt: Meta's OPT (6.7B and larger: pre-LayerNorm) and PowerInfer's sparse OPT files. Learned positions
// (position_embd, row pos + 2 as OPT's table is offset), LayerNorm with bias everywhere, multi-head attention
// with Q/K/V/O biases and no RoPE, a gate-less ReLU FFN with biases (PowerInfer: neuron-major ffn_down_t and
// predictors on the FFN's pre-norm input), the output tied to the embedding. PowerInfer's converter writes only
// context_length, embedding_length, block_count, feed_forward_length and head_count; the LayerNorm epsilon is
// OPT's 1e-5 unless the file says otherwise.
#include <fmt/format.h>

#include "../arch.h"
#include "../error.h"
#include "../gguf.h"

namespace hearth {
namespace {

void opt_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  layer_norm_hparams(f, hp);
  block_spec &b = hp.block;
  b.rope = rope_kind::none;
  b.pos_offset = 2;
  if (!f.find(key_name(kv::hearth_ffn_activation))) b.ffn = {activation::relu, false, false};
  b.ffn.gated = false, b.ffn.act_on_up = false;
}

void opt_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  io_tensors(l, hp);
  // The table's rows bound the context: 2 offset rows, then one per position.
  const gguf_tensor *pt = l.file().tensor(tensor_name(tensor::position_embd));
  const int64_t rows = pt && pt->n_dims == 2 ? pt->ne[1] : 0;
  if (pt && rows <= 2) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}: too few positions", pt->name, pt->shape()));
  l.pos_embd() = l.matrix_of(tensor::position_embd, -1, d, rows);
  hp.n_ctx_train = (int32_t)std::min<int64_t>(rows - 2, 1 << 24);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    attention_tensors(l, L, il, hp, true);
    L.ffn_norm = l.norm_of(tensor::ffn_norm, il, d);
    L.up = l.matrix_of(tensor::ffn_up, il, d, ff);
    L.bup = l.vector_of(tensor::ffn_up, il, ff, true, "bias");
    l.ffn_down(L, il, d, ff);
  }
}

}  // namespace

extern const arch_unit k_arch_opt = {"opt", opt_hparams, opt_tensors};

}  // namespace hearth
