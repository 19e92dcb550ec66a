// llama: LLaMA 1-3, Mistral, Mixtral (experts: arch/experts.cpp), and PowerInfer's ReLU conversions (ReluLLaMA, ProSparse: the PWRI magic marks their
// ReGLU FFN). RMSNorm, normal RoPE, separate Q/K/V (optional biases), a gated FFN, tied output when `output` is
// absent.
#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "../arch.h"
#include "../error.h"
#include "../gguf.h"
#include "../log.h"

namespace hearth {

std::vector<float> rope_factors(const gguf_file &f, tensor which, const hparams &hp) {
  const std::string name = tensor_name(which);
  const gguf_tensor *t = f.tensor(name);
  if (!t) return {};
  if (t->type != dtype::f32) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' is {}; hearth reads it as F32", name, type_name(t->type)));
  if (t->n_dims != 1 || t->ne[0] != hp.n_rot / 2)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has {} values, expected {} (rope.dimension_count / 2)", name, t->n_elements(), hp.n_rot / 2));
  std::vector<float> v((const float *)t->data, (const float *)t->data + hp.n_rot / 2);
  for (float x : v)
    if (!(x > 0) || !std::isfinite(x)) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' holds a factor that is not positive", name));
  return v;
}

rope_scaling read_rope_scaling(const gguf_file &f, const hparams &hp) {
  const std::string &a = hp.arch;
  rope_scaling s;
  s.n_rot = hp.n_rot;
  s.n_ctx_orig = hp.n_ctx_orig;
  s.base = f.get_float(key_name(kv::rope_freq_base, a), 10000.0);
  if (!(s.base > 1) || !std::isfinite(s.base)) fail(HEARTH_ERR_BAD_FORMAT, key_name(kv::rope_freq_base, a) + " out of range");
  if (hp.n_rot > k_max_rope_dims) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("rope.dimension_count {} is above {}", hp.n_rot, k_max_rope_dims));
  // As llama.cpp: the type defaults to linear; the factor (or the older scale_linear) is 1 / freq_scale.
  const std::string type_key = key_name(kv::rope_scaling_type, a);
  const std::string type = f.get_string(type_key, "linear");
  double factor = f.get_float(key_name(kv::rope_scaling_factor, a), 0.0);
  if (factor == 0.0) factor = f.get_float(key_name(kv::rope_scale_linear, a), 0.0);
  if (factor == 0.0) factor = 1.0;
  if (!(factor > 0) || !std::isfinite(factor)) fail(HEARTH_ERR_BAD_FORMAT, key_name(kv::rope_scaling_factor, a) + " out of range");
  if (type == "none") factor = 1.0;
  else if (type == "yarn") s.yarn = true;
  else if (type != "linear" && type != "longrope")
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("{} '{}' is not supported (hearth applies none, linear, yarn, longrope)", type_key, type));
  s.freq_scale = 1.0 / factor;
  s.attn_factor = f.get_float(key_name(kv::rope_scaling_attn_factor, a), 1.0);
  s.beta_fast = f.get_float(key_name(kv::rope_scaling_yarn_beta_fast, a), 32.0);
  s.beta_slow = f.get_float(key_name(kv::rope_scaling_yarn_beta_slow, a), 1.0);
  if (!(s.attn_factor > 0) || !(s.beta_fast > 0) || !(s.beta_slow > 0))
    fail(HEARTH_ERR_BAD_FORMAT, "rope.scaling attn_factor or yarn betas out of range");
  // Llama 3.1's per-pair factors (rope_freqs), or Phi-3's short ones (the long ones: llama_hparams).
  s.factors = rope_factors(f, tensor::rope_freqs, hp);
  if (s.factors.empty()) s.factors = rope_factors(f, tensor::rope_factors_short, hp);
  return s;
}

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
  block_spec &b = hp.block;
  b.norm = norm_kind::rms;
  b.norm_eps = (float)f.get_float(key_name(kv::layer_norm_rms_epsilon, a), 1e-5);
  b.rope = rope_kind::normal;
  if (!(b.norm_eps >= 0)) fail(HEARTH_ERR_BAD_FORMAT, key_name(kv::layer_norm_rms_epsilon, a) + " out of range");
  hp.n_ctx_orig = hparam_or(f, kv::rope_scaling_original_context_length, a, 1, 1 << 24, hp.n_ctx_train);
  const rope_scaling rs = read_rope_scaling(f, hp);
  hp.rope = make_rope(rs);
  // Phi-3's long factors replace the short ones beyond the original context (llama.cpp's get_rope_factors).
  if (const std::vector<float> lf = rope_factors(f, tensor::rope_factors_long, hp); !lf.empty()) {
    rope_scaling l = rs;
    l.factors = lf;
    hp.rope_long = make_rope(l);
  }

  // FFN activation: hearth's own key wins; PowerInfer marks ReLU models by the PWRI magic (llama = ReGLU); plain
  // llama.cpp llama files are SwiGLU.
  const std::string key = key_name(kv::hearth_ffn_activation);
  const std::string act = f.get_string(key, "");
  ffn_form &ffn = b.ffn;
  if (act.empty()) ffn = f.pwri() ? ffn_form{activation::relu, true, false} : ffn_form{activation::silu, true, false};
  else if (!ffn_form_from_key(act, &ffn)) fail(HEARTH_ERR_UNSUPPORTED, key + " '" + act + "' is unknown");
}

void io_tensors(tensor_loader &l, const hparams &hp) {
  l.tok_embd() = l.matrix_of(tensor::token_embd, -1, hp.n_embd, hp.n_vocab);
  l.output_norm() = l.norm_of(tensor::output_norm, -1, hp.n_embd);
  l.output() = l.matrix_of(tensor::output, -1, hp.n_embd, hp.n_vocab, false);
  if (!l.output()) l.output() = l.tok_embd();  // tied embeddings
}

void attention_tensors(tensor_loader &l, layer &L, int32_t il, const hparams &hp, bool biases) {
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv();
  L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
  L.wq = l.matrix_of(tensor::attn_q, il, d, dq);
  L.wk = l.matrix_of(tensor::attn_k, il, d, dkv);
  L.wv = l.matrix_of(tensor::attn_v, il, d, dkv);
  L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
  L.bq = l.vector_of(tensor::attn_q, il, dq, biases, "bias");
  L.bk = l.vector_of(tensor::attn_k, il, dkv, biases, "bias");
  L.bv = l.vector_of(tensor::attn_v, il, dkv, biases, "bias");
  L.bo = l.vector_of(tensor::attn_output, il, d, biases, "bias");
}

void fused_qkv(tensor_loader &l, layer &L, int32_t il, const hparams &hp) {
  const int64_t dq = hp.n_embd_q(), dkv = hp.n_embd_kv();
  const matrix qkv = l.matrix_of(tensor::attn_qkv, il, hp.n_embd, dq + 2 * dkv);
  L.wq = qkv.rows_range(0, dq), L.wk = qkv.rows_range(dq, dkv), L.wv = qkv.rows_range(dq + dkv, dkv);
}

void qk_norm_tensors(tensor_loader &l, const hparams &hp) {
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.q_norm = l.norm_of(tensor::attn_q_norm, il, hp.head_dim());
    L.k_norm = l.norm_of(tensor::attn_k_norm, il, hp.head_dim());
  }
}

void layer_norm_hparams(const gguf_file &f, hparams &hp) {
  const std::string key = key_name(kv::layer_norm_epsilon, hp.arch);
  hp.block.norm = norm_kind::layer;
  hp.block.norm_eps = (float)f.get_float(key, 1e-5);
  if (!(hp.block.norm_eps >= 0)) fail(HEARTH_ERR_BAD_FORMAT, key + " out of range");
}

void require_qkv_biases(tensor_loader &l, const hparams &hp) {
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const layer &L = l.layers()[(size_t)il];
    for (const auto &[bias, t] : {std::pair{&L.bq, tensor::attn_q}, {&L.bk, tensor::attn_k}, {&L.bv, tensor::attn_v}})
      if (bias->empty()) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + tensor_name(t, il, "bias") + "' is missing");
  }
}

void llama_tensors(tensor_loader &l, hparams &hp) {
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  io_tensors(l, hp);
  const std::string act_key = key_name(kv::hearth_ffn_activation);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    attention_tensors(l, L, il, hp, false);
    L.ffn_norm = l.norm_of(tensor::ffn_norm, il, d);
    if (hp.block.moe) {  // Mixtral, Qwen-MoE: every layer a mixture of experts
      moe_tensors(l, L, il, hp);
      continue;
    }
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

namespace {
// llama itself may carry experts (Mixtral: softmax over the router, the top-k weights renormalised).
void llama_unit_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);
  moe_hparams(f, hp, true);
}
}  // namespace

extern const arch_unit k_arch_llama = {"llama", llama_unit_hparams, llama_tensors};

}  // namespace hearth
