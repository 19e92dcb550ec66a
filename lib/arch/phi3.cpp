// phi3: Phi-3 and Phi-3.5 (mini, medium). The llama block with NeoX RoPE, one fused QKV (all Q rows, then K,
// then V) and one fused gate/up tensor (ffn_up: 2 n_ff rows, the gate's first, as SwiGLU splits it). The 128k
// models carry per-pair RoPE factors, short ones within the original context and long ones beyond it
// (rope_factors_short/long, with rope.scaling.attn_factor), which llama_hparams reads. Phi-3's sliding window is
// not applied, as llama.cpp does not (its converter's window is not the trained one).
#include "../arch.h"
#include "../error.h"
#include "../gguf.h"

namespace hearth {
namespace {

void phi3_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  hp.block.rope = rope_kind::neox;
}

void phi3_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), ff = hp.n_ff;
  io_tensors(l, hp);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
    fused_qkv(l, L, il, hp);
    L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
    L.ffn_norm = l.norm_of(tensor::ffn_norm, il, d);
    const matrix gate_up = l.matrix_of(tensor::ffn_up, il, d, 2 * ff);
    L.gate = gate_up.rows_range(0, ff), L.up = gate_up.rows_range(ff, ff);
    l.ffn_down(L, il, d, ff);
  }
}

}  // namespace

extern const arch_unit k_arch_phi3 = {"phi3", phi3_hparams, phi3_tensors};

}  // namespace hearth
