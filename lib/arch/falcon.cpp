// falcon: Falcon 7B/40B/180B and PowerInfer's ReluFalcon. LayerNorm with bias, one fused QKV (llama.cpp's
// converter writes it as all Q rows, then K, then V), MQA/GQA, NeoX RoPE, attention and FFN in parallel on the
// block's normed input (Falcon-40B and later: the FFN on a second norm, attn_norm_2), and a gate-less FFN: GELU
// in Falcon, ReLU in ReluFalcon (PowerInfer's PWRI files), no biases on the matrices.
#include "../arch.h"
#include "../error.h"
#include "../gguf.h"

namespace hearth {
namespace {

void falcon_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  layer_norm_hparams(f, hp);
  block_spec &b = hp.block;
  b.rope = rope_kind::neox;
  b.parallel = true;
  // The FFN has no gate: the activation applies to up. hearth's own key may still name the activation.
  if (!f.find(key_name(kv::hearth_ffn_activation))) b.ffn = {f.pwri() ? activation::relu : activation::gelu, false, false};
  b.ffn.gated = false, b.ffn.act_on_up = false;
}

void falcon_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), ff = hp.n_ff;
  io_tensors(l, hp);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
    L.attn_norm_2 = l.norm_of(tensor::attn_norm_2, il, d, false);
    fused_qkv(l, L, il, hp);
    L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
    L.up = l.matrix_of(tensor::ffn_up, il, d, ff);
    l.ffn_down(L, il, d, ff);
  }
}

}  // namespace

extern const arch_unit k_arch_falcon = {"falcon", falcon_hparams, falcon_tensors};

}  // namespace hearth
