// The parameterised pieces of a block, through an architecture registered from here ("test.blocks", one small
// unit as an architecture file would be): LayerNorm with bias, NeoX RoPE over part of each head, fused QKV with
// biases, Q/K head norms, GELU / GeGLU / ReLU² FFNs with biases, parallel attention + FFN with one or two norms.
// Logits of random F32 models against a float64 forward pass written here (independent of the engine's blocks),
// on the CPU and through the hybrid graph on the emulated device.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "arch.h"
#include "device.h"
#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "model.h"
#include "names.h"
#include "offload.h"
#include "session.h"
#include "synth.h"
#include "test_util.h"

using namespace hearth;

namespace {

constexpr const char *k_arch = "test.blocks";

// ---- the architecture unit ----------------------------------------------------------------------------------

void blocks_hparams(const gguf_file &f, hparams &hp) {
  llama_hparams(f, hp);  // the llama keys under test.blocks.*
  block_spec &b = hp.block;
  const std::string norm = f.get_string("test.blocks.norm", "rms"), rope = f.get_string("test.blocks.rope", "normal");
  b.norm = norm == "layer" ? norm_kind::layer : norm_kind::rms;
  if (b.norm == norm_kind::layer) b.norm_eps = (float)f.get_float(key_name(kv::layer_norm_epsilon, k_arch), 1e-5);
  b.rope = rope == "neox" ? rope_kind::neox : rope == "none" ? rope_kind::none : rope_kind::normal;
  b.parallel = f.get_bool("test.blocks.parallel", false);
  b.qk_norm = f.get_bool("test.blocks.qk_norm", false);
}

// Shapes of the 3-D expert tensors the unit found (an MoE unit would load them; this one only looks them up).
std::vector<std::vector<int64_t>> g_expert_shapes;

void blocks_tensors(tensor_loader &l, hparams &hp) {
  const int64_t n_expert = (int64_t)l.file().get_uint("test.blocks.expert_count", 0);
  g_expert_shapes.clear();
  const int64_t d = hp.n_embd, dq = hp.n_embd_q(), dkv = hp.n_embd_kv(), ff = hp.n_ff, nv = hp.n_vocab;
  l.tok_embd() = l.matrix_of(tensor::token_embd, -1, d, nv);
  l.output_norm() = l.norm_of(tensor::output_norm, -1, d);
  l.output() = l.matrix_of(tensor::output, -1, d, nv);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    layer &L = l.layers()[(size_t)il];
    L.attn_norm = l.norm_of(tensor::attn_norm, il, d);
    L.attn_norm_2 = l.norm_of(tensor::attn_norm_2, il, d, false);
    if (const matrix qkv = l.matrix_of(tensor::attn_qkv, il, d, dq + 2 * dkv, false)) {  // fused: views of its rows
      L.wq = qkv.rows_range(0, dq), L.wk = qkv.rows_range(dq, dkv), L.wv = qkv.rows_range(dq + dkv, dkv);
      const std::vector<float> b = l.vector_of(tensor::attn_qkv, il, dq + 2 * dkv, false, "bias");
      if (!b.empty()) {
        L.bq.assign(b.begin(), b.begin() + dq);
        L.bk.assign(b.begin() + dq, b.begin() + dq + dkv);
        L.bv.assign(b.begin() + dq + dkv, b.end());
      }
    } else {
      L.wq = l.matrix_of(tensor::attn_q, il, d, dq);
      L.wk = l.matrix_of(tensor::attn_k, il, d, dkv);
      L.wv = l.matrix_of(tensor::attn_v, il, d, dkv);
      L.bq = l.vector_of(tensor::attn_q, il, dq, false, "bias");
      L.bk = l.vector_of(tensor::attn_k, il, dkv, false, "bias");
      L.bv = l.vector_of(tensor::attn_v, il, dkv, false, "bias");
    }
    L.wo = l.matrix_of(tensor::attn_output, il, dq, d);
    L.bo = l.vector_of(tensor::attn_output, il, d, false, "bias");
    if (hp.block.qk_norm) {
      L.q_norm = l.norm_of(tensor::attn_q_norm, il, hp.head_dim());
      L.k_norm = l.norm_of(tensor::attn_k_norm, il, hp.head_dim());
    }
    if (!hp.block.parallel) L.ffn_norm = l.norm_of(tensor::ffn_norm, il, d);
    L.up = l.matrix_of(tensor::ffn_up, il, d, ff);
    L.bup = l.vector_of(tensor::ffn_up, il, ff, false, "bias");
    L.gate = l.matrix_of(tensor::ffn_gate, il, d, ff, false);
    L.bgate = l.vector_of(tensor::ffn_gate, il, ff, false, "bias");
    hp.block.ffn.gated = bool(L.gate);
    l.ffn_down(L, il, d, ff);
    if (n_expert > 0)
      if (const gguf_tensor *e = l.tensor_of(tensor::ffn_gate_exps, il, {d, ff, n_expert}, false))
        g_expert_shapes.emplace_back(e->ne, e->ne + e->n_dims);
  }
}

const arch_unit k_unit = {k_arch, blocks_hparams, blocks_tensors};

void register_once() {
  static const bool done = [] {
    register_arch(k_unit);
    return true;
  }();
  (void)done;
}

// ---- the test models ------------------------------------------------------------------------------------------

struct variant {
  const char *name;
  std::string norm = "rms", rope = "normal", act = "silu";
  bool parallel = false, norm2 = false, qk_norm = false, fused = false, biases = false, gated = true, down_t = false;
  int n_rot_div = 1;  // rope over head_dim / n_rot_div dims
  int experts = 0;     // > 0: layer 0 also has a 3-D ffn_gate_exps of this many experts
  int experts_in_file = 0;  // the file's third dimension (to write a mis-shaped one); 0: experts
  std::string arch = k_arch;  // a built-in architecture's name: its own unit reads the file
  bool qkv_bias = false;      // biases on separate Q, K and V
  int head_dim = 0;           // 0: n_embd / n_head; else key_length (Q is n_head x head_dim wide)
  int layers = 3;
  // RoPE scaling as llama.cpp's converter writes it: rope.scaling.type/factor/original_context_length and
  // attn_factor, Llama 3's rope_freqs tensor, Phi-3's rope_factors_short/long
  std::string scaling;  // "", "linear", "yarn", "longrope"
  double factor = 1.0, attn_factor = 1.0;
  int orig_ctx = 0;
  bool rope_freqs = false;
  bool fused_gate_up = false;  // Phi-3's ffn_up of 2 n_ff rows, the gate's first
  int gemma = 0;               // 2 or 3: Gemma's block (embedding scale, post-norms, soft caps, sliding windows)
  int window = 0;              // attention.sliding_window
  bool tied = false;           // no output.weight: the embedding is the output
  bool learned_pos = false;    // OPT: position_embd of 2 + 32 rows, row pos + 2 added to the embedding
};

constexpr int k_d = 48, k_heads = 4, k_kv_heads = 2, k_ff = 96, k_layers = 3, k_vocab = test::k_test_vocab;

// Writes the variant with random F32 weights and a small SentencePiece vocabulary; returns the path.
std::string write_variant(const variant &v) {
  std::mt19937 rng(11);
  gguf_writer w;
  const std::string a = v.arch;
  const int hd_v = v.head_dim ? v.head_dim : k_d / k_heads;
  w.set_str("general.architecture", a);
  if (v.head_dim) w.set_u32(a + ".attention.key_length", (uint32_t)v.head_dim), w.set_u32(a + ".attention.value_length", (uint32_t)v.head_dim);
  w.set_u32(a + ".embedding_length", k_d);
  w.set_u32(a + ".block_count", (uint32_t)v.layers);
  if (!v.scaling.empty()) w.set_str(a + ".rope.scaling.type", v.scaling);
  if (v.factor != 1.0) w.set_f32(a + ".rope.scaling.factor", (float)v.factor);
  if (v.orig_ctx) w.set_u32(a + ".rope.scaling.original_context_length", (uint32_t)v.orig_ctx);
  if (v.attn_factor != 1.0) w.set_f32(a + ".rope.scaling.attn_factor", (float)v.attn_factor);
  if (v.window) w.set_u32(a + ".attention.sliding_window", (uint32_t)v.window);
  if (v.gemma == 2) w.set_f32(a + ".attn_logit_softcapping", 1.5f), w.set_f32(a + ".final_logit_softcapping", 2.0f);
  w.set_u32(a + ".feed_forward_length", k_ff);
  w.set_u32(a + ".attention.head_count", k_heads);
  w.set_u32(a + ".attention.head_count_kv", k_kv_heads);
  w.set_u32(a + ".context_length", 256);
  w.set_u32(a + ".rope.dimension_count", hd_v / v.n_rot_div);
  w.set_f32(a + ".rope.freq_base", 5000.0f);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32(a + ".attention.layer_norm_epsilon", 1e-5f);
  w.set_str("test.blocks.norm", v.norm);
  w.set_str("test.blocks.rope", v.rope);
  w.set_bool("test.blocks.parallel", v.parallel);
  w.set_bool("test.blocks.qk_norm", v.qk_norm);
  w.set_str("hearth.ffn_activation", v.act);
  if (v.experts) w.set_u32("test.blocks.expert_count", (uint32_t)v.experts);
  test::write_test_vocab(w);
  auto add = [&](const std::string &name, std::vector<int64_t> ne, float scale, float center = 0.0f) {
    test::add_random_f32(w, rng, name, ne, scale, center);
  };
  const int64_t hd = hd_v, dq = (int64_t)k_heads * hd, dkv = (int64_t)k_kv_heads * hd;
  const float s = 1.0f / std::sqrt((float)k_d);
  add("token_embd.weight", {k_d, k_vocab}, 1.0f);
  add("output_norm.weight", {k_d}, 0.2f, 1.0f);
  if (v.norm == "layer") add("output_norm.bias", {k_d}, 0.1f);
  if (!v.tied) add("output.weight", {k_d, k_vocab}, s);
  if (v.learned_pos) add("position_embd.weight", {k_d, 34}, 0.5f);
  const int64_t pairs = hd / v.n_rot_div / 2;
  if (v.rope_freqs) add("rope_freqs.weight", {pairs}, 1.5f, 2.5f);  // factors in [1, 4]
  if (v.scaling == "longrope") add("rope_factors_short.weight", {pairs}, 0.4f, 1.5f), add("rope_factors_long.weight", {pairs}, 2.0f, 4.0f);
  for (int il = 0; il < v.layers; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    add(p + "attn_norm.weight", {k_d}, 0.2f, 1.0f);
    if (v.norm == "layer") add(p + "attn_norm.bias", {k_d}, 0.1f);
    if (v.norm2) {
      add(p + "attn_norm_2.weight", {k_d}, 0.2f, 1.0f);
      if (v.norm == "layer") add(p + "attn_norm_2.bias", {k_d}, 0.1f);
    }
    if (v.fused) {
      add(p + "attn_qkv.weight", {k_d, dq + 2 * dkv}, s);
      if (v.biases) add(p + "attn_qkv.bias", {dq + 2 * dkv}, 0.2f);
    } else {
      add(p + "attn_q.weight", {k_d, dq}, s);
      add(p + "attn_k.weight", {k_d, dkv}, s);
      add(p + "attn_v.weight", {k_d, dkv}, s);
      if (v.qkv_bias) {
        add(p + "attn_q.bias", {dq}, 0.2f);
        add(p + "attn_k.bias", {dkv}, 0.2f);
        add(p + "attn_v.bias", {dkv}, 0.2f);
      }
    }
    add(p + "attn_output.weight", {dq, k_d}, s);
    if (v.biases) add(p + "attn_output.bias", {k_d}, 0.1f);
    if (v.gemma) add(p + "post_attention_norm.weight", {k_d}, 0.2f, 1.0f), add(p + "post_ffw_norm.weight", {k_d}, 0.2f, 1.0f);
    if (v.qk_norm) {
      add(p + "attn_q_norm.weight", {hd}, 0.2f, 1.0f);
      add(p + "attn_k_norm.weight", {hd}, 0.2f, 1.0f);
    }
    if (!v.parallel) add(p + "ffn_norm.weight", {k_d}, 0.2f, 1.0f);
    if (!v.parallel && v.norm == "layer") add(p + "ffn_norm.bias", {k_d}, 0.1f);
    add(p + "ffn_up.weight", {k_d, v.fused_gate_up ? 2 * k_ff : k_ff}, s);
    if (v.biases) add(p + "ffn_up.bias", {k_ff}, 0.2f);
    if (v.gated && !v.fused_gate_up) {
      add(p + "ffn_gate.weight", {k_d, k_ff}, s);
      if (v.biases) add(p + "ffn_gate.bias", {k_ff}, 0.2f);
    }
    if (v.down_t) add(p + "ffn_down_t.weight", {k_d, k_ff}, 1.0f / std::sqrt((float)k_ff));
    else add(p + "ffn_down.weight", {k_ff, k_d}, 1.0f / std::sqrt((float)k_ff));
    if (v.biases) add(p + (v.down_t && v.arch == "opt" ? "ffn_down_t.bias" : "ffn_down.bias"), {k_d}, 0.1f);
    if (v.experts && il == 0) add(p + "ffn_gate_exps.weight", {k_d, k_ff, v.experts_in_file ? v.experts_in_file : v.experts}, s);
  }
  const std::string path = test::temp_path(std::string("blocks-") + v.name + ".gguf");
  w.write(path);
  return path;
}

// ---- the float64 reference ----------------------------------------------------------------------------------

using vec = std::vector<double>;

struct ref_model {
  const gguf_file &f;
  variant v;
  vec get(const std::string &name) const {  // a tensor's F32 values, or empty
    const gguf_tensor *t = f.tensor(name);
    if (!t) return {};
    vec out((size_t)t->n_elements());
    for (size_t i = 0; i < out.size(); ++i) out[i] = ((const float *)t->data)[i];
    return out;
  }
  // y = W x (+ b), W stored as `rows` rows of x.size()
  static vec linear(const vec &w, const vec &b, const vec &x, size_t rows) {
    vec y(rows, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      double s = b.empty() ? 0.0 : b[r];
      for (size_t c = 0; c < x.size(); ++c) s += w[r * x.size() + c] * x[c];
      y[r] = s;
    }
    return y;
  }
  vec norm(const vec &x, const std::string &base) const {
    const vec w = get(base + ".weight"), b = get(base + ".bias");
    double mean = 0, var = 0;
    if (v.norm == "layer") {
      for (double e : x) mean += e / (double)x.size();
    }
    for (double e : x) var += (e - mean) * (e - mean) / (double)x.size();
    vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + (b.empty() ? 0.0 : b[i]);
    return y;
  }
  static double act(const std::string &a, double z) {
    if (a == "gelu") return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
    if (a == "relu_sq") return z > 0 ? z * z : 0;
    if (a == "relu" || a == "relu_nogate") return z > 0 ? z : 0;
    return z / (1 + std::exp(-z));  // silu
  }
  int hd() const { return v.head_dim ? v.head_dim : k_d / k_heads; }
  // Whether layer l attends within the window: Gemma 2's even layers, Gemma 3's all but every sixth.
  bool sliding(int l) const { return v.gemma == 2 ? l % 2 == 0 : v.gemma == 3 ? l % 6 != 5 : false; }
  // The inverse frequency of each pair and the cos/sin magnitude, in the form of Hugging Face's
  // _compute_*_parameters: YaRN blends 1/(factor base^(2i/d)) and 1/base^(2i/d) by a clamped linear ramp over
  // the pairs [low, high] from find_correction_dim, with attention factor 0.1 ln(factor) + 1.
  void inv_freq(int l, vec &f, double &mscale) const {
    const int d = hd() / v.n_rot_div;
    const bool local = v.gemma == 3 && sliding(l);  // Gemma 3's sliding layers: base 10000, unscaled
    const double base = local ? 10000.0 : 5000.0, factor = local ? 1.0 : v.factor;
    const vec rf = get("rope_freqs.weight"), lf = get("rope_factors_long.weight");
    f.assign((size_t)d / 2, 0.0);
    mscale = v.attn_factor;
    double low = 0, high = 0;
    if (v.scaling == "yarn") {
      auto corr = [&](double rot) { return d * std::log(v.orig_ctx / (rot * 2 * M_PI)) / (2 * std::log(base)); };
      low = std::max(0.0, std::floor(corr(32))), high = std::min(d - 1.0, std::ceil(corr(1)));
      if (low == high) high += 0.001;
      mscale *= 0.1 * std::log(factor) + 1.0;
    }
    for (int i = 0; i < d / 2; ++i) {
      const double extrap = 1.0 / std::pow(base, 2.0 * i / d), interp = extrap / factor;
      if (v.scaling == "yarn") {
        const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        f[(size_t)i] = interp * ramp + extrap * (1 - ramp);
      } else {
        f[(size_t)i] = interp;
      }
      if (!rf.empty()) f[(size_t)i] /= rf[(size_t)i];
      if (!lf.empty()) f[(size_t)i] /= lf[(size_t)i];  // a session context (32) beyond the original (16): long
    }
  }
  void rope(vec &x, int heads, int pos, int l) const {
    const int hd = this->hd(), n_rot = hd / v.n_rot_div;
    if (v.rope == "none") return;
    vec f;
    double m;
    inv_freq(l, f, m);
    for (int h = 0; h < heads; ++h)
      for (int p = 0; p < n_rot / 2; ++p) {
        const int i = v.rope == "neox" ? p : 2 * p, j = v.rope == "neox" ? p + n_rot / 2 : 2 * p + 1;
        const double th = pos * f[(size_t)p];
        double &a = x[(size_t)(h * hd + i)], &b = x[(size_t)(h * hd + j)];
        const double a0 = a, b0 = b;
        a = m * (a0 * std::cos(th) - b0 * std::sin(th));
        b = m * (a0 * std::sin(th) + b0 * std::cos(th));
      }
  }
  void head_norm(vec &x, int heads, const vec &w) const {
    const int hd = this->hd();
    for (int h = 0; h < heads; ++h) {
      double ss = 0;
      for (int i = 0; i < hd; ++i) ss += x[(size_t)(h * hd + i)] * x[(size_t)(h * hd + i)];
      const double s = 1.0 / std::sqrt(ss / hd + 1e-5);
      for (int i = 0; i < hd; ++i) x[(size_t)(h * hd + i)] *= s * w[(size_t)i];
    }
  }

  std::vector<vec> logits(const std::vector<int32_t> &toks) const {
    const int hd = this->hd(), dq = k_heads * hd, dkv = k_kv_heads * hd, group = k_heads / k_kv_heads;
    const vec embd = get("token_embd.weight"), out = v.tied ? embd : get("output.weight");
    std::vector<std::vector<vec>> K((size_t)v.layers), V((size_t)v.layers);
    std::vector<vec> result;
    for (size_t pos = 0; pos < toks.size(); ++pos) {
      vec x(embd.begin() + (long)toks[pos] * k_d, embd.begin() + (long)(toks[pos] + 1) * k_d);
      if (v.gemma)
        for (double &e : x) e *= std::sqrt((double)k_d);
      if (v.learned_pos) {
        const vec pe = get("position_embd.weight");
        for (int i = 0; i < k_d; ++i) x[(size_t)i] += pe[(pos + 2) * k_d + (size_t)i];
      }
      for (int l = 0; l < v.layers; ++l) {
        const std::string p = fmt::format("blk.{}.", l);
        const vec h = norm(x, p + "attn_norm");
        vec q, k, vv;
        if (v.fused) {
          const vec qkv = linear(get(p + "attn_qkv.weight"), get(p + "attn_qkv.bias"), h, (size_t)(k_d + 2 * dkv));
          q.assign(qkv.begin(), qkv.begin() + k_d);
          k.assign(qkv.begin() + k_d, qkv.begin() + k_d + dkv);
          vv.assign(qkv.begin() + k_d + dkv, qkv.end());
        } else {
          q = linear(get(p + "attn_q.weight"), get(p + "attn_q.bias"), h, (size_t)dq);
          k = linear(get(p + "attn_k.weight"), get(p + "attn_k.bias"), h, (size_t)dkv);
          vv = linear(get(p + "attn_v.weight"), get(p + "attn_v.bias"), h, (size_t)dkv);
        }
        if (v.qk_norm) {
          head_norm(q, k_heads, get(p + "attn_q_norm.weight"));
          head_norm(k, k_kv_heads, get(p + "attn_k_norm.weight"));
        }
        rope(q, k_heads, (int)pos, l);
        rope(k, k_kv_heads, (int)pos, l);
        K[(size_t)l].push_back(k);
        V[(size_t)l].push_back(vv);
        vec att((size_t)dq, 0.0);
        for (int hh = 0; hh < k_heads; ++hh) {
          const int kvh = hh / group;
          vec s(pos + 1);
          double mx = -1e300, sum = 0;
          // a sliding layer sees the window's last keys only
          const size_t first = sliding(l) && pos + 1 > (size_t)v.window ? pos + 1 - (size_t)v.window : 0;
          for (size_t t = first; t <= pos; ++t) {
            double dot = 0;
            for (int i = 0; i < hd; ++i) dot += q[(size_t)(hh * hd + i)] * K[(size_t)l][t][(size_t)(kvh * hd + i)];
            s[t] = dot / std::sqrt((double)hd);
            if (v.gemma == 2) s[t] = 1.5 * std::tanh(s[t] / 1.5);
            mx = std::max(mx, s[t]);
          }
          for (size_t t = 0; t <= pos; ++t) sum += s[t] = t >= first ? std::exp(s[t] - mx) : 0.0;
          for (size_t t = 0; t <= pos; ++t)
            for (int i = 0; i < hd; ++i) att[(size_t)(hh * hd + i)] += s[t] / sum * V[(size_t)l][t][(size_t)(kvh * hd + i)];
        }
        vec o = linear(get(p + "attn_output.weight"), get(p + "attn_output.bias"), att, (size_t)k_d);
        if (v.gemma) o = norm(o, p + "post_attention_norm");
        vec fin;  // the FFN's input after its norm
        if (v.parallel) fin = v.norm2 ? norm(x, p + "attn_norm_2") : h;
        else {
          for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
          fin = norm(x, p + "ffn_norm");
        }
        vec up = linear(get(p + "ffn_up.weight"), get(p + "ffn_up.bias"), fin, (size_t)k_ff);
        if (v.fused_gate_up) {  // rows [0, n_ff) gate, [n_ff, 2 n_ff) up
          const vec gu = linear(get(p + "ffn_up.weight"), {}, fin, (size_t)(2 * k_ff));
          for (size_t i = 0; i < (size_t)k_ff; ++i) up[i] = act(v.act, gu[i]) * gu[i + k_ff];
        } else if (v.gated) {
          const vec g = linear(get(p + "ffn_gate.weight"), get(p + "ffn_gate.bias"), fin, (size_t)k_ff);
          for (size_t i = 0; i < up.size(); ++i) up[i] *= act(v.act, g[i]);
        } else {
          for (double &u : up) u = act(v.act, u);
        }
        vec dn;
        if (v.down_t) {  // neuron-major: row i is neuron i's column of the down projection
          const vec dt = get(p + "ffn_down_t.weight");
          dn.assign((size_t)k_d, 0.0);
          for (int i = 0; i < k_ff; ++i)
            for (int c = 0; c < k_d; ++c) dn[(size_t)c] += dt[(size_t)(i * k_d + c)] * up[(size_t)i];
          const vec b = get(p + (v.arch == "opt" ? "ffn_down_t.bias" : "ffn_down.bias"));
          for (size_t c = 0; c < b.size(); ++c) dn[c] += b[c];
        } else {
          dn = linear(get(p + "ffn_down.weight"), get(p + "ffn_down.bias"), up, (size_t)k_d);
        }
        if (v.gemma) dn = norm(dn, p + "post_ffw_norm");
        for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i] + (v.parallel ? o[i] : 0.0);
      }
      vec logits = linear(out, {}, norm(x, "output_norm"), (size_t)k_vocab);
      if (v.gemma == 2)
        for (double &e : logits) e = 2.0 * std::tanh(e / 2.0);
      result.push_back(logits);
    }
    return result;
  }
};

double rel_err(const float *a, const vec &b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) err = std::max(err, std::fabs(a[i] - b[i])), mag = std::max(mag, std::fabs(b[i]));
  return err / mag;
}

const variant k_variants[] = {
    // Falcon-like: LayerNorm with bias, fused QKV with bias, NeoX over half of each head, one norm for attention
    // and a GELU FFN without gate, in parallel
    {"falcon-like", "layer", "neox", "gelu", true, false, false, true, true, false, false, 2},
    // Qwen3-like: Q/K head norms, separate Q/K/V, a gated ReLU² FFN, output and FFN biases, sequential
    {"qk-norm relu2", "rms", "normal", "relu_sq", false, false, true, false, true, true, false, 1},
    // two norms in a parallel block, GeGLU, full NeoX, neuron-major down (so its neurons can be split)
    {"parallel geglu", "layer", "neox", "gelu", true, true, false, false, false, true, true, 1},
    // no RoPE, a gate-less ReLU FFN with biases, neuron-major down
    {"no rope relu", "rms", "none", "relu_nogate", false, false, false, false, true, false, true, 1},
};

// Built-in architectures through their own units (lib/arch/*.cpp), in llama.cpp's layout for them.
std::vector<variant> builtin_variants() {
  variant qwen2{"qwen2", "rms", "neox", "silu"};
  qwen2.arch = "qwen2";
  qwen2.qkv_bias = true;
  variant qwen3{"qwen3", "rms", "neox", "silu"};
  qwen3.arch = "qwen3";
  qwen3.qk_norm = true;
  qwen3.head_dim = 16;  // Q is 4 x 16 = 64 wide on a 48-wide model, as Qwen3-0.6B's 16 x 128 on 1024
  // Falcon-7B: one norm for attention and FFN; Falcon-40B: a second norm for the FFN. Both gate-less GELU,
  // fused QKV without biases, parallel; ReluFalcon: the same with ReLU.
  variant falcon7{"falcon-7b", "layer", "neox", "gelu", true, false, false, true, false, false};
  falcon7.arch = "falcon";
  variant falcon40 = falcon7;
  falcon40.name = "falcon-40b";
  falcon40.norm2 = true;
  variant relufalcon = falcon40;
  relufalcon.name = "relufalcon";
  relufalcon.act = "relu_nogate";
  // Llama with each RoPE scaling llama.cpp applies: linear, YaRN (a ramp over an original context of 64), and
  // Llama 3.1's per-pair factors
  variant linear{"llama rope linear"};
  linear.arch = "llama", linear.scaling = "linear", linear.factor = 4;
  variant yarn{"llama rope yarn"};
  yarn.arch = "llama", yarn.scaling = "yarn", yarn.factor = 4, yarn.orig_ctx = 64;
  variant llama3{"llama3 rope_freqs"};
  llama3.arch = "llama", llama3.rope_freqs = true;
  // Phi-3 128k: fused QKV and gate/up, NeoX, long factors (the session's 32 tokens exceed the original 16) and
  // the attention factor
  variant phi3{"phi3 longrope", "rms", "neox", "silu"};
  phi3.arch = "phi3", phi3.fused = true, phi3.fused_gate_up = true, phi3.scaling = "longrope", phi3.orig_ctx = 16;
  phi3.attn_factor = 1.19;
  // Gemma 2: soft caps (small, so they bite on random weights), a window of 3 on the even layers; Gemma 3: Q/K
  // norms, six layers (the sixth global, at base 5000 with linear factor 2; the others at 10000)
  variant gemma2{"gemma2", "rms", "neox", "gelu"};
  gemma2.arch = "gemma2", gemma2.gemma = 2, gemma2.window = 3, gemma2.tied = true;
  variant gemma3{"gemma3", "rms", "neox", "gelu"};
  gemma3.arch = "gemma3", gemma3.gemma = 3, gemma3.window = 3, gemma3.tied = true, gemma3.qk_norm = true;
  gemma3.layers = 6, gemma3.scaling = "linear", gemma3.factor = 2, gemma3.head_dim = 16;
  // OPT: learned positions, LayerNorm with biases, Q/K/V/O and FFN biases, no RoPE, gate-less ReLU, tied output;
  // and PowerInfer's form of it, neuron-major down (whose bias its converter names ffn_down_t.bias)
  variant opt{"opt", "layer", "none", "relu_nogate", false, false, false, false, true, false, false};
  opt.arch = "opt", opt.qkv_bias = true, opt.learned_pos = true, opt.tied = true;
  variant opt_t = opt;
  opt_t.name = "opt (PowerInfer's ffn_down_t)", opt_t.down_t = true;
  return {qwen2, qwen3, falcon7, falcon40, relufalcon, linear, yarn, llama3, phi3, gemma2, gemma3, opt, opt_t};
}

}  // namespace

TEST_CASE("registered architectures: each piece of a block against a float64 forward pass, CPU and hybrid") {
  register_once();
  CHECK(find_arch(k_arch) != nullptr);
  CHECK(arch_names().find(k_arch) != std::string::npos);
  CHECK_THROWS_AS(register_arch(k_unit), error);  // a name is registered once
  const std::vector<int32_t> toks = {1, 260, 270, 5, 280, 100, 261, 3, 284};
  std::vector<variant> all(std::begin(k_variants), std::end(k_variants));
  for (const variant &b : builtin_variants()) all.push_back(b);
  for (const variant &v : all) {
    const std::string name = v.name;
    CAPTURE(name);
    const std::string path = write_variant(v);
    const auto m = model::load(path);
    const hparams &hp = m->hp();
    CHECK(hp.block.parallel == v.parallel);
    CHECK(hp.block.qk_norm == v.qk_norm);
    CHECK(hp.block.ffn.gated == v.gated);
    const auto f = gguf_file::open(path);
    const ref_model ref{*f, v};
    const std::vector<vec> want = ref.logits(toks);
    for (int threads : {1, 2}) {
      session_config sc;
      sc.type_k = sc.type_v = dtype::f32;  // the float64 oracle keeps keys and values unrounded
      sc.n_ctx = 32;
      sc.n_threads = threads;
      sc.n_batch = 4;  // chunks of the prompt, then token by token below
      session s(*m, sc);
      s.eval(toks.data(), 5, true);
      for (int i = 0; i < 5; ++i) CHECK(rel_err(s.logits(i), want[(size_t)i]) < 1e-5);
      for (size_t i = 5; i < toks.size(); ++i) {
        s.eval(&toks[i], 1, false);
        CHECK(rel_err(s.logits(-1), want[i]) < 1e-5);
      }
    }
    // The same graph under a GPU placement (emulated device): whole layers on the GPU (layers 0-1), and for the
    // neuron-major variants a hybrid split of every layer's neurons.
    for (int mode : {(int)offload_mode::layers, (int)offload_mode::hybrid}) {
      if (mode == (int)offload_mode::hybrid && !v.down_t) continue;
      model_config mc;
      mc.offload.mode = mode;
      mc.offload.n_ctx = 32;
      mc.offload.sync_seconds = 1e-12;  // worth a round trip at any size
      const uint64_t layer_bytes = m->layers()[0].attention_bytes() + m->layers()[0].ffn_bytes() + 2ull * 32 * 2 * 24 * 4 + 4 * k_ff;
      mc.offload.budget = mode == (int)offload_mode::layers ? 2 * layer_bytes + (uint64_t)v.layers * (k_ff + k_d) * 4 + 2000
                                                            : m->weight_bytes() / 2;
      mc.offload.open = [](std::string *) { return make_emulated_device(size_t(64) << 20, 0); };
      const auto g = model::load(path, mc);
      REQUIRE(g->gpu());
      CAPTURE(g->gpu()->describe());
      if (mode == (int)offload_mode::layers) CHECK(g->gpu()->n_attention_layers() == 2);
      else CHECK(g->gpu()->n_hot_neurons() > 0);
      session_config sc;
      sc.type_k = sc.type_v = dtype::f32;  // the oracle's, and the emulated device's cache is F32 too
      sc.n_ctx = 32;
      sc.n_threads = 2;
      sc.n_batch = 4;
      sc.sparse_mode = HEARTH_SPARSE_DENSE;
      session s(*g, sc);
      REQUIRE(s.hybrid());
      s.eval(toks.data(), 5, true);
      for (int i = 0; i < 5; ++i) CHECK(rel_err(s.logits(i), want[(size_t)i]) < 1e-5);
      for (size_t i = 5; i < toks.size(); ++i) {
        s.eval(&toks[i], 1, false);
        CHECK(rel_err(s.logits(-1), want[i]) < 1e-5);
      }
    }
  }
}

TEST_CASE("an architecture's missing or mis-shaped tensor is refused naming it, an unknown one lists the known") {
  register_once();
  variant v{"broken"};
  v.fused = true;
  const std::string path = write_variant(v);
  // drop the fused QKV: the unit then asks for attn_q, which is missing
  const std::string no_qkv = test::rewrite_model(path, {}, {"attn_qkv.weight"});
  try {
    model::load(no_qkv);
    FAIL("loaded without Q/K/V");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
    CHECK(std::string(e.what()).find("blk.0.attn_q.weight") != std::string::npos);
  }
  const std::string unknown = test::rewrite_model(path, {}, {});
  {
    const auto f = gguf_file::open(unknown);
    gguf_writer w;
    for (const gguf_kv &kv : f->kvs())
      if (kv.key == "general.architecture") w.set_str(kv.key, "nonesuch");
      else if (kv.key != "general.alignment") w.set_value(kv.key, kv.value);
    const std::string p2 = test::temp_path("nonesuch.gguf");
    w.write(p2);
    try {
      model::load(p2);
      FAIL("loaded an unknown architecture");
    } catch (const error &e) {
      CHECK(e.status() == HEARTH_ERR_UNSUPPORTED);
      CHECK(std::string(e.what()).find("'nonesuch'") != std::string::npos);
      CHECK(std::string(e.what()).find("llama, bamboo") != std::string::npos);
    }
  }
}

TEST_CASE("hearth synth writes a file of each architecture that its unit loads, logits agree across thread counts") {
  for (const char *arch : {"qwen2", "qwen3", "falcon", "phi3", "gemma2", "gemma3", "opt"}) {
    CAPTURE(arch);
    synth_config c = test::small_config();
    c.arch = arch;
    c.tokenizer = "bpe";
    c.pre = "qwen2";
    if (std::string(arch) == "qwen3") c.head_dim = 32;  // 4 heads x 32 on a 64-wide model
    if (std::string(arch) == "falcon") c.falcon_norm2 = true, c.ffn = "relu_nogate";
    const auto m = model::load(test::synth_model(c));
    CHECK(m->hp().arch == arch);
    const std::string as = arch;
    CHECK(m->hp().block.rope == (as == "opt" ? rope_kind::none : rope_kind::neox));
    CHECK(bool(m->pos_embd()) == (as == "opt"));
    CHECK(m->hp().block.qk_norm == (as == "qwen3" || as == "gemma3"));
    CHECK(m->hp().n_embd_q() == (as == "qwen3" ? 128 : 64));
    const bool gemma = as == "gemma2" || as == "gemma3";
    CHECK(bool(m->layers()[1].attn_post_norm) == gemma);
    CHECK(bool(m->layers()[1].ffn_post_norm) == gemma);
    CHECK(m->hp().is_swa(0) == (as == "gemma2" || as == "gemma3"));
    if (as == "gemma2" || as == "gemma3") CHECK(m->hp().block.ffn.act == activation::gelu);
    if (as == "phi3") CHECK(m->layers()[0].up.data == m->layers()[0].gate.data + m->hp().n_ff * m->layers()[0].gate.row_size);
    CHECK(!m->layers()[0].bq.empty() == (as == "qwen2" || as == "opt"));
    CHECK(m->hp().block.parallel == (std::string(arch) == "falcon"));
    if (std::string(arch) == "falcon") {
      CHECK(m->hp().block.norm == norm_kind::layer);
      CHECK(bool(m->layers()[0].attn_norm_2));
      CHECK_FALSE(m->hp().block.ffn.gated);
      CHECK(m->hp().block.ffn.act == activation::relu);
    }
    std::vector<int32_t> toks;
    m->tok().encode("The hearth warms the room.", true, false, toks);
    std::vector<std::vector<float>> logits;
    for (int threads : {1, 2}) {
      session_config sc;
      sc.n_ctx = 64;
      sc.n_threads = threads;
      session s(*m, sc);
      s.eval(toks.data(), (int32_t)toks.size(), false);
      const float *l = s.logits(-1);
      logits.emplace_back(l, l + m->hp().n_vocab);
    }
    double mag = 0, diff = 0;
    for (size_t i = 0; i < logits[0].size(); ++i)
      mag = std::max(mag, (double)std::fabs(logits[0][i])), diff = std::max(diff, (double)std::fabs(logits[0][i] - logits[1][i]));
    CHECK(mag > 0);
    CHECK(diff <= 1e-5 * mag);
  }
}

TEST_CASE("each unit requires its own tensors (qwen2's Q/K/V biases, qwen3's and gemma3's head norms, falcon's and "
          "phi3's fused QKV, gemma2's post-norms, phi3's fused gate/up), naming the missing one") {
  const std::pair<const char *, const char *> k_drop[] = {
      {"qwen2", "blk.1.attn_k.bias"},         {"qwen3", "blk.2.attn_q_norm.weight"}, {"falcon", "blk.1.attn_qkv.weight"},
      {"phi3", "blk.1.attn_qkv.weight"},      {"gemma2", "blk.1.post_ffw_norm.weight"},
      {"gemma3", "blk.2.attn_k_norm.weight"}, {"opt", "blk.1.attn_v.bias"},
  };
  for (const variant &v : builtin_variants()) {
    const std::string name = v.name;
    CAPTURE(name);
    const char *drop = nullptr;
    for (const auto &[arch, t] : k_drop)
      if (v.arch == arch) drop = t;
    if (!drop) continue;  // the llama RoPE variants: llama's own tensors are checked elsewhere
    const std::string path = write_variant(v);
    const std::string broken = test::rewrite_model(path, {}, {drop});
    try {
      model::load(broken);
      FAIL("loaded without " << drop);
    } catch (const error &e) {
      CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
      CHECK(std::string(e.what()).find(drop) != std::string::npos);
    }
  }
}

TEST_CASE("a unit takes tensors of any rank: a 3-D expert tensor is found with its shape, a mis-shaped one refused") {
  register_once();
  variant v{"experts"};
  v.experts = 4;
  {
    const auto m = model::load(write_variant(v));
    REQUIRE(g_expert_shapes.size() == 1);  // layer 0 only
    CHECK(g_expert_shapes[0] == std::vector<int64_t>{k_d, k_ff, 4});
  }
  v.name = "experts-misshaped";
  v.experts_in_file = 3;
  try {
    model::load(write_variant(v));
    FAIL("loaded a mis-shaped expert tensor");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
    CHECK(std::string(e.what()).find("'blk.0.ffn_gate_exps.weight' has shape [48, 96, 3], expected [48, 96, 4]") !=
          std::string::npos);
  }
}

TEST_CASE("tensor_layer reads the layer of a per-layer tensor name and nothing else") {
  CHECK(tensor_layer("blk.0.attn_q.weight") == 0);
  CHECK(tensor_layer("blk.31.ffn_down_t.weight") == 31);
  CHECK(tensor_layer(tensor_name(tensor::ffn_up_exps, 117)) == 117);
  CHECK(tensor_layer("token_embd.weight") == -1);
  CHECK(tensor_layer("blk..attn_q.weight") == -1);
  CHECK(tensor_layer("blk.3") == -1);
  CHECK(tensor_layer("blk.3x.attn_q.weight") == -1);
}

TEST_CASE("RoPE factors that do not match the rotated width are refused, naming the tensor") {
  variant v{"llama3 bad freqs"};
  v.arch = "llama", v.rope_freqs = true;
  // 6 factors were written for 12 rotated dims; the rewritten file rotates 8
  const std::string bad = test::rewrite_model(write_variant(v), {{"llama.rope.dimension_count", 8}});
  try {
    model::load(bad);
    FAIL("loaded mismatched rope_freqs");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
    CHECK(std::string(e.what()).find("tensor 'rope_freqs.weight' has 6 values, expected 4") != std::string::npos);
  }
}

TEST_CASE("learned positions bound the context: a session beyond the table is refused, within it runs to its end") {
  variant v{"opt context", "layer", "none", "relu_nogate", false, false, false, false, true, false, false};
  v.arch = "opt", v.qkv_bias = true, v.learned_pos = true, v.tied = true;
  const auto m = model::load(write_variant(v));
  CHECK(m->hp().n_ctx_train == 32);  // 34 rows, 2 of them OPT's offset
  session_config sc;
  sc.n_ctx = 33;
  try {
    session s(*m, sc);
    FAIL("a session beyond the learned positions");
  } catch (const error &e) {
    CHECK(e.status() == HEARTH_ERR_INVALID_ARGUMENT);
    CHECK(std::string(e.what()).find("beyond the 32 positions") != std::string::npos);
  }
  sc.n_ctx = 0;  // the model's own: all 32
  session s(*m, sc);
  std::vector<int32_t> toks(32, 270);
  s.eval(toks.data(), 32, false);  // the last position reads the table's last row
  int32_t one = 271;
  CHECK_THROWS_AS(s.eval(&one, 1, false), error);  // context full
}
