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
  block_spec &b = hp.block;
  b.norm = norm_kind::layer;
  b.norm_eps = (float)f.get_float(key_name(kv::layer_norm_epsilon, hp.arch), 1e-5);
  if (!(b.norm_eps >= 0)) fail(HEARTH_ERR_BAD_FORMAT, key_name(kv::layer_norm_epsilon, hp.arch) + " out of range");
  b.rope = rope_kind::neox;
  b.parallel = true;
  // The FFN has no gate: the activation applies to up. hearth's own key may still name the activation.
  if (!f.find(key_name(kv::hearth_ffn_activation))) b.ffn = {f.pwri() ? activation::relu : activation::gelu, false, false};
  b.ffn.gated = false, b.ffn.act_on_up = false;
}

void falcon_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv(), ff = hp.n_ff, nv = hp.n_vocab;
  l.tok_embd() = l.matrix_of(tensor::token_embd, -1, d, nv);
  l.output_norm() = l.norm_of(tensor::output_norm, -1, d);
  l.output() = l.matrix_of(tensor::output, -1, d, nv, false);
  if (!l.output()) l.output() = l.tok_embd();
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
    L.attn_norm_2 = l.norm_of(tensor::attn_norm_2, il, d, false);
    const matrix qkv = l.matrix_of(tensor::attn_qkv, il, d, dq + 2 * dkv);
    L.wq = qkv.rows_range(0, dq), L.wk = qkv.rows_range(dq, dkv), L.wv = qkv.rows_range(dq + dkv, dkv);
    L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
    L.up = l.matrix_of(tensor::ffn_up, il, d, ff);
    l.ffn_down(L, il, d, ff);
  }
}

}  // namespace

extern const arch_unit k_arch_falcon = {"falcon", falcon_hparams, falcon_tensors};

}  // namespace hearth
