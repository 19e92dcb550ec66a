// gemma2: Gemma 2. The llama block with NeoX RoPE, the embedding scaled by sqrt(n_embd), RMS norms on the
// attention's and the FFN's outputs (post_attention_norm, post_ffw_norm; llama.cpp's converter has already added
// Gemma's 1 to every norm weight), a GeGLU FFN, scores scaled by query_pre_attn_scalar^-1/2 and soft-capped,
// logits soft-capped, and every other layer (the even ones) attending within a sliding window. Tied output.
#include <cmath>

#include "../arch.h"
#include "../error.h"
#include "../gguf.h"

namespace hearth {

void gemma_hparams(const gguf_file &f, hparams &hp, int32_t swa_pattern, int32_t n_layer_27b) {
  llama_hparams(f, hp);
  block_spec &b = hp.block;
  b.rope = rope_kind::neox;
  b.embd_scale = std::sqrt((float)hp.n_embd);
  // GeGLU, unless hearth's own key names another form (a ReLU-fied Gemma, say)
  if (!f.find(key_name(kv::hearth_ffn_activation))) b.ffn = {activation::gelu, true, false};
  // gemma_pytorch's query_pre_attn_scalar: n_embd / n_head for the 27B models, the head size otherwise (llama.cpp
  // tells them by their layer count)
  b.attn_scale = hp.n_layer == n_layer_27b ? 1.0f / std::sqrt((float)(hp.n_embd / hp.n_head)) : 1.0f / std::sqrt((float)hp.n_embd_head);
  // llama.cpp's set_swa_pattern: layer il slides unless il % pattern == pattern - 1
  hp.swa.assign((size_t)hp.n_layer, 0);
  for (int32_t il = 0; il < hp.n_layer; ++il) hp.swa[(size_t)il] = il % swa_pattern < swa_pattern - 1;
}

void gemma_tensors(tensor_loader &l, hparams &hp) {
  llama_tensors(l, hp);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_post_norm = l.norm_of(tensor::attn_post_norm, il, hp.n_embd);
    L.ffn_post_norm = l.norm_of(tensor::ffn_post_norm, il, hp.n_embd);
  }
}

namespace {

void gemma2_hparams(const gguf_file &f, hparams &hp) {
  gemma_hparams(f, hp, 2, 46);
  const std::string &a = hp.arch;
  hp.n_swa = hparam_or(f, kv::sliding_window, a, 1, 1 << 24, 4096);
  block_spec &b = hp.block;
  b.attn_softcap = (float)f.get_float(key_name(kv::attn_logit_softcapping, a), 50.0);
  b.final_softcap = (float)f.get_float(key_name(kv::final_logit_softcapping, a), 30.0);
  if (!(b.attn_softcap > 0) || !(b.final_softcap > 0)) fail(HEARTH_ERR_BAD_FORMAT, "gemma2 soft-capping values must be positive");
}

}  // namespace

extern const arch_unit k_arch_gemma2 = {"gemma2", gemma2_hparams, gemma_tensors};

}  // namespace hearth
