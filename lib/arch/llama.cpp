// llama: LLaMA 1-3, Mistral, and PowerInfer's ReLU conversions (ReluLLaMA, ProSparse: the PWRI magic marks their
// ReGLU FFN). RMSNorm, normal RoPE, separate Q/K/V (optional biases), a gated FFN, tied output when `output` is
// absent.
#include <fmt/format.h>

#include "../arch.h"
#include "../error.h"
#include "../gguf.h"
#include "../log.h"

namespace hearth {

void llama_hparams(const gguf_file &f, hparams &hp) {
  const std::string &a = hp.arch;
  hp.n_embd = hparam(f, kv::embedding_length, a, 1, 1 << 16);
  hp.n_layer = hparam(f, kv::block_count, a, 1, 4096);
  hp.n_ff = hparam(f, kv::feed_forward_length, a, 1, 1 << 20);
  hp.n_head = hparam(f, kv::head_count, a, 1, 4096);
  hp.n_head_kv = hparam_or(f, kv::head_count_kv, a, 1, 4096, hp.n_head);
  hp.n_ctx_train = hparam_or(f, kv::context_length, a, 1, 1 << 24, 2048);
  if (hp.n_embd % hp.n_head) fail(HEARTH_ERR_BAD_FORMAT, "embedding_length is not a multiple of head_count");
  if (hp.n_head % hp.n_head_kv) fail(HEARTH_ERR_BAD_FORMAT, "head_count is not a multiple of head_count_kv");
  hp.n_embd_head = hparam_or(f, kv::key_length, a, 1, 1 << 16, hp.n_embd / hp.n_head);
  hp.n_rot = hparam_or(f, kv::rope_dimension_count, a, 0, (uint64_t)hp.n_embd_head, hp.n_embd_head);
  if (hp.n_rot % 2) fail(HEARTH_ERR_BAD_FORMAT, "rope.dimension_count must be even");
  hp.rope_base = (float)f.get_float(key_name(kv::rope_freq_base, a), 10000.0);
  block_spec &b = hp.block;
  b.norm = norm_kind::rms;
  b.norm_eps = (float)f.get_float(key_name(kv::layer_norm_rms_epsilon, a), 1e-5);
  b.rope = rope_kind::normal;
  if (!(hp.rope_base > 0) || !(b.norm_eps >= 0)) fail(HEARTH_ERR_BAD_FORMAT, "rope.freq_base or layer_norm_rms_epsilon out of range");
  // RoPE scaling is not applied yet: say so rather than run a long-context model silently differently from
  // llama.cpp (Llama 3.1's per-dimension factors are the rope_freqs tensor; linear and YaRN are keys).
  const std::string scaling = f.get_string(key_name(kv::rope_scaling_type, a), "");
  const double factor = f.get_float(key_name(kv::rope_scaling_factor, a), 1.0);
  if ((!scaling.empty() && scaling != "none") || factor != 1.0 || f.tensor("rope_freqs.weight"))
    log(HEARTH_LOG_WARN, "the file asks for RoPE scaling ({}{}), which hearth does not apply yet: logits differ from "
        "llama.cpp's, most at long context",
        f.tensor("rope_freqs.weight") ? "rope_freqs factors" : scaling.empty() ? "linear" : scaling,
        factor != 1.0 ? fmt::format(", factor {}", factor) : std::string());

  // FFN activation: hearth's own key wins; PowerInfer marks ReLU models by the PWRI magic (llama = ReGLU); plain
  // llama.cpp llama files are SwiGLU.
  const std::string key = key_name(kv::hearth_ffn_activation);
  const std::string act = f.get_string(key, "");
  ffn_form &ffn = b.ffn;
  if (act.empty()) ffn = f.pwri() ? ffn_form{activation::relu, true, false} : ffn_form{activation::silu, true, false};
  else if (!ffn_form_from_key(act, &ffn)) fail(HEARTH_ERR_UNSUPPORTED, key + " '" + act + "' is unknown");
}

void llama_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv(), ff = hp.n_ff, nv = hp.n_vocab;
  l.tok_embd() = l.matrix_of(tensor::token_embd, -1, d, nv);
  l.output_norm() = l.norm_of(tensor::output_norm, -1, d);
  l.output() = l.matrix_of(tensor::output, -1, d, nv, false);
  if (!l.output()) l.output() = l.tok_embd();  // tied embeddings
  const std::string act_key = key_name(kv::hearth_ffn_activation);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
    L.wq = l.matrix_of(tensor::attn_q, il, d, dq);
    L.wk = l.matrix_of(tensor::attn_k, il, d, dkv);
    L.wv = l.matrix_of(tensor::attn_v, il, d, dkv);
    L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
    L.bq = l.vector_of(tensor::attn_q, il, dq, false, "bias");
    L.bk = l.vector_of(tensor::attn_k, il, dkv, false, "bias");
    L.bv = l.vector_of(tensor::attn_v, il, dkv, false, "bias");
    L.bo = l.vector_of(tensor::attn_output, il, d, false, "bias");
    L.ffn_norm = l.norm_of(tensor::ffn_norm, il, d);
    L.up = l.matrix_of(tensor::ffn_up, il, d, ff);
    L.gate = l.matrix_of(tensor::ffn_gate, il, d, ff, false);
    l.ffn_down(L, il, d, ff);
    ffn_form &ffn = hp.block.ffn;
    if (!L.gate) {
      if (!ffn.relu_family() && ffn.gated)
        fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + tensor_name(tensor::ffn_gate, il) + "' is missing");
      ffn.gated = false, ffn.act_on_up = false;  // a ReLU model without gates is the plain-ReLU FFN
    } else if (!ffn.gated) {
      fail(HEARTH_ERR_BAD_FORMAT, act_key + " says no gate, but '" + tensor_name(tensor::ffn_gate, il) + "' exists");
    }
  }
}

extern const arch_unit k_arch_llama = {"llama", llama_hparams, llama_tensors};

}  // namespace hearth
