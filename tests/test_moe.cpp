// Mixtures of experts (llama with experts = Mixtral, qwen3moe, qwen2moe with its gated shared expert; dReLU
// experts stored neuron-major as PowerInfer's SmallThinker files store them): logits of random F32 models against
// a float64 forward pass written here (router, top-k, weighting, shared expert), batch against one by one, the
// exact gate against dense, the emulated device's experts-on-CPU placement against the CPU, and refused counts.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "calibrate.h"
#include "device.h"
#include "expert_calibration.h"
#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "model.h"
#include "moe.h"
#include "offload.h"
#include "placement.h"
#include "names.h"
#include "session.h"
#include "synth.h"
#include "test_util.h"

using namespace hearth;

namespace {

struct moe_variant {
  const char *name;
  std::string arch = "llama";
  std::string act;         // hearth.ffn_activation ("": the architecture's SwiGLU)
  int experts = 4, used = 2, ff_exp = 40, ff_shared = 0;
  bool norm = true;        // renormalise the chosen weights (as the architecture does; written only when `write_norm`)
  bool write_norm = false;
  int gating = 0;          // expert_gating_func to write (0: none; 2: sigmoid)
  float scale = 0.0f;      // expert_weights_scale to write (0: none)
  bool qk_norm = false, qkv_bias = false, neox = false, down_t = false;
  int file_experts = 0;    // the third dimension written for ffn_up_exps (0: experts), to write a mis-shaped one
  bool sliding = false;    // attention.sliding_window (SmallThinker: its global layers 0, 4, ... then apply no RoPE)
  int pred_rank = 0, pred_file_experts = 0;  // per-expert predictors of this rank (fc2_exps of this many experts)
};

constexpr int k_d = 32, k_heads = 4, k_kv = 2, k_layers = 2, k_vocab = test::k_test_vocab, k_ff_dense = 64;

std::string write(const moe_variant &v) {
  std::mt19937 rng(7);
  gguf_writer w;
  const std::string a = v.arch;
  w.set_str("general.architecture", a);
  w.set_u32(a + ".embedding_length", k_d);
  w.set_u32(a + ".block_count", k_layers);
  w.set_u32(a + ".feed_forward_length", a == "llama" ? v.ff_exp : k_ff_dense);
  if (a != "llama") w.set_u32(a + ".expert_feed_forward_length", (uint32_t)v.ff_exp);
  w.set_u32(a + ".attention.head_count", k_heads);
  w.set_u32(a + ".attention.head_count_kv", k_kv);
  w.set_u32(a + ".context_length", 256);
  w.set_f32(a + ".rope.freq_base", 10000.0f);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_u32(a + ".expert_count", (uint32_t)v.experts);
  w.set_u32(a + ".expert_used_count", (uint32_t)v.used);
  if (v.ff_shared) w.set_u32(a + ".expert_shared_feed_forward_length", (uint32_t)v.ff_shared);
  if (v.write_norm) w.set_bool(a + ".expert_weights_norm", v.norm);
  if (v.gating) w.set_u32(a + ".expert_gating_func", (uint32_t)v.gating);
  if (v.scale > 0) w.set_f32(a + ".expert_weights_scale", v.scale);
  if (!v.act.empty()) w.set_str("hearth.ffn_activation", v.act);
  if (v.sliding) w.set_u32(a + ".attention.sliding_window", 4096);
  test::write_test_vocab(w);
  auto add = [&](const std::string &name, std::vector<int64_t> ne, float scale, float center = 0.0f) {
    test::add_random_f32(w, rng, name, ne, scale, center);
  };
  const int64_t hd = k_d / k_heads, dkv = k_kv * hd, E = v.experts, fe = v.file_experts ? v.file_experts : E;
  const float s = 1.0f / std::sqrt((float)k_d);
  add("token_embd.weight", {k_d, k_vocab}, 1.0f);
  add("output_norm.weight", {k_d}, 0.2f, 1.0f);
  add("output.weight", {k_d, k_vocab}, s);
  for (int il = 0; il < k_layers; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    add(p + "attn_norm.weight", {k_d}, 0.2f, 1.0f);
    add(p + "attn_q.weight", {k_d, k_d}, s);
    add(p + "attn_k.weight", {k_d, dkv}, s);
    add(p + "attn_v.weight", {k_d, dkv}, s);
    if (v.qkv_bias) add(p + "attn_q.bias", {k_d}, 0.2f), add(p + "attn_k.bias", {dkv}, 0.2f), add(p + "attn_v.bias", {dkv}, 0.2f);
    if (v.qk_norm) add(p + "attn_q_norm.weight", {hd}, 0.2f, 1.0f), add(p + "attn_k_norm.weight", {hd}, 0.2f, 1.0f);
    add(p + "attn_output.weight", {k_d, k_d}, s);
    add(p + "ffn_norm.weight", {k_d}, 0.2f, 1.0f);
    add(p + "ffn_gate_inp.weight", {k_d, E}, 2.0f * s);  // the router: logits of order 1, so top-k varies
    add(p + "ffn_up_exps.weight", {k_d, v.ff_exp, fe}, s);
    add(p + "ffn_gate_exps.weight", {k_d, v.ff_exp, E}, s);
    if (v.down_t) add(p + "ffn_down_exps.weight", {k_d, v.ff_exp, E}, 1.0f / std::sqrt((float)v.ff_exp));
    else add(p + "ffn_down_exps.weight", {v.ff_exp, k_d, E}, 1.0f / std::sqrt((float)v.ff_exp));
    if (v.pred_rank) {
      add(p + "fc1_exps.weight", {k_d, v.pred_rank, E}, s);
      add(p + "fc2_exps.weight", {v.pred_rank, v.ff_exp, v.pred_file_experts ? v.pred_file_experts : E}, s);
    }
    if (v.ff_shared) {
      add(p + "ffn_up_shexp.weight", {k_d, v.ff_shared}, s);
      add(p + "ffn_gate_shexp.weight", {k_d, v.ff_shared}, s);
      add(p + "ffn_down_shexp.weight", {v.ff_shared, k_d}, 1.0f / std::sqrt((float)v.ff_shared));
      add(p + "ffn_gate_inp_shexp.weight", {k_d}, s);
    }
  }
  const std::string path = test::temp_path(std::string("moe-") + v.name + ".gguf");
  w.write(path);
  return path;
}

// ---- the float64 reference ----------------------------------------------------------------------------------

using vec = std::vector<double>;

struct ref_moe {
  const gguf_file &f;
  moe_variant v;
  vec get(const std::string &name) const {
    const gguf_tensor *t = f.tensor(name);
    REQUIRE(t);
    vec out((size_t)t->n_elements());
    for (size_t i = 0; i < out.size(); ++i) out[i] = ((const float *)t->data)[i];
    return out;
  }
  static vec linear(const vec &w, const vec &x, size_t rows, size_t offset = 0) {  // rows of x.size() from offset
    vec y(rows, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < x.size(); ++c) y[r] += w[offset + r * x.size() + c] * x[c];
    return y;
  }
  static vec rms(const vec &x, const vec &w, size_t off = 0, size_t n = 0) {
    if (!n) n = x.size();
    double ss = 0;
    for (size_t i = 0; i < n; ++i) ss += x[off + i] * x[off + i];
    vec y = x;
    for (size_t i = 0; i < n; ++i) y[off + i] = x[off + i] / std::sqrt(ss / (double)n + 1e-5) * w[i];
    return y;
  }
  double act(double g, double u) const {
    auto relu = [](double z) { return z > 0 ? z : 0.0; };
    if (v.act == "drelu") return relu(g) * relu(u);
    if (v.act == "relu" || (v.act.empty() && v.arch == "smallthinker")) return relu(g) * u;  // SmallThinker: ReGLU
    return g / (1 + std::exp(-g)) * u;  // SwiGLU
  }
  // One FFN of width ff: expert e's slice of the 3-D tensors (e < 0: the shared expert).
  vec expert(const std::string &p, int e, const vec &x) const {
    const bool shared = e < 0;
    const size_t ff = (size_t)(shared ? v.ff_shared : v.ff_exp), d = (size_t)k_d, off = shared ? 0 : (size_t)e * ff * d;
    const vec up = linear(get(p + (shared ? "ffn_up_shexp.weight" : "ffn_up_exps.weight")), x, ff, off);
    const vec gate = linear(get(p + (shared ? "ffn_gate_shexp.weight" : "ffn_gate_exps.weight")), x, ff, off);
    vec a(ff);
    for (size_t i = 0; i < ff; ++i) a[i] = act(gate[i], up[i]);
    if (!shared && v.down_t) {  // per expert: n_ff rows of n_embd
      const vec dt = get(p + "ffn_down_exps.weight");
      vec y(d, 0.0);
      for (size_t i = 0; i < ff; ++i)
        for (size_t c = 0; c < d; ++c) y[c] += dt[off + i * d + c] * a[i];
      return y;
    }
    return linear(get(p + (shared ? "ffn_down_shexp.weight" : "ffn_down_exps.weight")), a, d, off);
  }
  vec moe(const std::string &p, const vec &x, const vec *router_input) const {
    const vec logits = linear(get(p + "ffn_gate_inp.weight"), router_input ? *router_input : x, (size_t)v.experts);
    vec prob(logits.size());
    if (v.gating == 2) {
      for (size_t e = 0; e < prob.size(); ++e) prob[e] = 1 / (1 + std::exp(-logits[e]));
    } else {
      const double mx = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (size_t e = 0; e < prob.size(); ++e) sum += prob[e] = std::exp(logits[e] - mx);
      for (double &q : prob) q /= sum;
    }
    std::vector<int> order((size_t)v.experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return prob[(size_t)a] > prob[(size_t)b]; });
    double chosen = 0;
    for (int j = 0; j < v.used; ++j) chosen += prob[(size_t)order[(size_t)j]];
    vec y((size_t)k_d, 0.0);
    for (int j = 0; j < v.used; ++j) {
      const int e = order[(size_t)j];
      double wt = prob[(size_t)e];
      if (v.norm) wt /= chosen;
      if (v.scale > 0) wt *= v.scale;
      const vec ye = expert(p, e, x);
      for (size_t c = 0; c < y.size(); ++c) y[c] += wt * ye[c];
    }
    if (v.ff_shared) {
      const vec ys = expert(p, -1, x), g = get(p + "ffn_gate_inp_shexp.weight");
      double z = 0;
      for (size_t c = 0; c < x.size(); ++c) z += g[c] * x[c];
      const double sg = 1 / (1 + std::exp(-z));
      for (size_t c = 0; c < y.size(); ++c) y[c] += sg * ys[c];
    }
    return y;
  }
  void rope(vec &x, int heads, int pos, int layer) const {
    if (v.sliding && layer % 4 == 0) return;  // SmallThinker's global layers
    const int hd = k_d / k_heads;
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const int a = v.neox ? i : 2 * i, b = v.neox ? i + hd / 2 : 2 * i + 1;
        const double th = pos * std::pow(10000.0, -2.0 * i / hd);
        const double x0 = x[(size_t)(h * hd + a)], x1 = x[(size_t)(h * hd + b)];
        x[(size_t)(h * hd + a)] = x0 * std::cos(th) - x1 * std::sin(th);
        x[(size_t)(h * hd + b)] = x0 * std::sin(th) + x1 * std::cos(th);
      }
  }
  std::vector<vec> logits(const std::vector<int32_t> &toks) const {
    const int hd = k_d / k_heads, dkv = k_kv * hd, group = k_heads / k_kv;
    const vec embd = get("token_embd.weight"), out = get("output.weight");
    std::vector<std::vector<vec>> K(k_layers), V(k_layers);
    std::vector<vec> result;
    for (size_t pos = 0; pos < toks.size(); ++pos) {
      vec x(embd.begin() + (long)toks[pos] * k_d, embd.begin() + (long)(toks[pos] + 1) * k_d);
      for (int l = 0; l < k_layers; ++l) {
        const std::string p = fmt::format("blk.{}.", l);
        const vec layer_input = x;  // SmallThinker's router reads it
        const vec h = rms(x, get(p + "attn_norm.weight"));
        vec q = linear(get(p + "attn_q.weight"), h, k_d), k = linear(get(p + "attn_k.weight"), h, (size_t)dkv),
            vv = linear(get(p + "attn_v.weight"), h, (size_t)dkv);
        if (v.qkv_bias) {
          const vec bq = get(p + "attn_q.bias"), bk = get(p + "attn_k.bias"), bv = get(p + "attn_v.bias");
          for (size_t i = 0; i < q.size(); ++i) q[i] += bq[i];
          for (size_t i = 0; i < k.size(); ++i) k[i] += bk[i], vv[i] += bv[i];
        }
        if (v.qk_norm) {
          const vec qn = get(p + "attn_q_norm.weight"), kn = get(p + "attn_k_norm.weight");
          for (int hh = 0; hh < k_heads; ++hh) q = rms(q, qn, (size_t)(hh * hd), (size_t)hd);
          for (int hh = 0; hh < k_kv; ++hh) k = rms(k, kn, (size_t)(hh * hd), (size_t)hd);
        }
        rope(q, k_heads, (int)pos, l);
        rope(k, k_kv, (int)pos, l);
        K[(size_t)l].push_back(k);
        V[(size_t)l].push_back(vv);
        vec att((size_t)k_d, 0.0);
        for (int hh = 0; hh < k_heads; ++hh) {
          const int kvh = hh / group;
          vec sc(pos + 1);
          double mx = -1e300, sum = 0;
          for (size_t t = 0; t <= pos; ++t) {
            double dot = 0;
            for (int i = 0; i < hd; ++i) dot += q[(size_t)(hh * hd + i)] * K[(size_t)l][t][(size_t)(kvh * hd + i)];
            mx = std::max(mx, sc[t] = dot / std::sqrt((double)hd));
          }
          for (double &e : sc) sum += e = std::exp(e - mx);
          for (size_t t = 0; t <= pos; ++t)
            for (int i = 0; i < hd; ++i) att[(size_t)(hh * hd + i)] += sc[t] / sum * V[(size_t)l][t][(size_t)(kvh * hd + i)];
        }
        const vec o = linear(get(p + "attn_output.weight"), att, k_d);
        for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
        const vec y = moe(p, rms(x, get(p + "ffn_norm.weight")), v.arch == "smallthinker" ? &layer_input : nullptr);
        for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
      }
      result.push_back(linear(out, rms(x, get("output_norm.weight")), (size_t)k_vocab));
    }
    return result;
  }
};

double rel_err(const float *a, const vec &b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) err = std::max(err, std::fabs(a[i] - b[i])), mag = std::max(mag, std::fabs(b[i]));
  return err / mag;
}

std::vector<moe_variant> variants() {
  moe_variant mixtral{"mixtral"};  // llama with experts: softmax, top-2 of 4, renormalised
  moe_variant qwen3{"qwen3moe", "qwen3moe"};
  qwen3.experts = 8, qwen3.used = 3, qwen3.ff_exp = 24, qwen3.qk_norm = true, qwen3.neox = true;
  moe_variant qwen2{"qwen2moe", "qwen2moe"};  // not renormalised; a shared expert behind a sigmoid gate
  qwen2.experts = 6, qwen2.used = 2, qwen2.ff_exp = 16, qwen2.ff_shared = 48, qwen2.norm = false, qwen2.qkv_bias = true;
  qwen2.neox = true;
  moe_variant sigmoid{"sigmoid scaled"};  // sigmoid gating, renormalised, then scaled (keys a file may carry)
  sigmoid.gating = 2, sigmoid.scale = 2.5f, sigmoid.used = 3;
  // TurboSparse-Mixtral's dReLU experts, down stored neuron-major (PowerInfer's shape: up's)
  moe_variant drelu{"drelu neuron-major"};
  drelu.act = "drelu", drelu.down_t = true, drelu.experts = 8;
  moe_variant reglu{"reglu row-major"};  // ReGLU experts in llama.cpp's layout
  reglu.act = "relu";
  // SmallThinker: the router on the layer's input, sigmoid gating renormalised, ReGLU experts stored transposed,
  // a sliding window (so layer 0 is global and applies no RoPE)
  moe_variant st{"smallthinker", "smallthinker"};
  st.gating = 2, st.down_t = true, st.sliding = true, st.neox = true, st.experts = 8, st.used = 2;
  return {mixtral, qwen3, qwen2, sigmoid, drelu, reglu, st};
}

const std::vector<int32_t> k_toks = {1, 260, 270, 5, 280, 100, 261, 3, 284, 40, 271};

// Logits of every token: the prompt in chunks of n_batch, then (from `first_single`) one token at a time.
std::vector<std::vector<float>> run(const model &m, int n_batch, size_t first_single, int mode = HEARTH_SPARSE_DENSE, int threads = 2) {
  session_config sc;
  sc.type_k = sc.type_v = dtype::f32;  // against the float64 oracle and across modes and devices (the emulated device's
  // cache is F32): an F16 cache would round their float-level differences to whole half-precision steps
  sc.n_ctx = 32;
  sc.n_threads = threads;
  sc.n_batch = n_batch;
  sc.sparse_mode = mode;
  session s(m, sc);
  std::vector<std::vector<float>> out;
  const int32_t nv = m.hp().n_vocab;
  s.eval(k_toks.data(), (int32_t)first_single, true);
  for (size_t i = 0; i < first_single; ++i) out.emplace_back(s.logits((int32_t)i), s.logits((int32_t)i) + nv);
  for (size_t i = first_single; i < k_toks.size(); ++i) {
    s.eval(&k_toks[i], 1, false);
    out.emplace_back(s.logits(-1), s.logits(-1) + nv);
  }
  return out;
}

double max_diff(const std::vector<std::vector<float>> &a, const std::vector<std::vector<float>> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[i].size(); ++j) m = std::max(m, (double)std::fabs(a[i][j] - b[i][j]));
  return m;
}

}  // namespace

TEST_CASE("route: softmax or sigmoid, the top k with ties to the lower id, renormalised and scaled") {
  const float logits[2 * 4] = {0.5f, 2.0f, 2.0f, -1.0f, 3.0f, 0.0f, 1.0f, 0.0f};
  moe_spec s;
  s.n_expert = 4, s.n_used = 2;
  int32_t ids[4];
  float w[4];
  route(logits, 2, s, ids, w);
  const double z0 = std::exp(0.5) + 2 * std::exp(2.0) + std::exp(-1.0);
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 2);  // a tie: the lower id first
  CHECK(w[0] == doctest::Approx(std::exp(2.0) / z0).epsilon(1e-6));
  CHECK(ids[2] == 0);
  CHECK(ids[3] == 2);
  s.norm_weights = true, s.weights_scale = 2.0f;
  route(logits, 2, s, ids, w);
  CHECK(w[0] == doctest::Approx(1.0).epsilon(1e-6));  // two equal weights, renormalised to 1/2 each, times 2
  CHECK(w[2] + w[3] == doctest::Approx(2.0).epsilon(1e-6));
  s.gating = expert_gating::sigmoid, s.norm_weights = false, s.weights_scale = 0.0f, s.n_used = 1;
  route(logits + 4, 1, s, ids, w);
  CHECK(ids[0] == 0);
  CHECK(w[0] == doctest::Approx(1.0 / (1.0 + std::exp(-3.0))).epsilon(1e-6));
}

TEST_CASE("mixtures of experts: logits against a float64 forward pass, batch against one by one") {
  for (const moe_variant &v : variants()) {
    const std::string name = v.name;
    CAPTURE(name);
    const std::string path = write(v);
    const auto m = model::load(path);
    const hparams &hp = m->hp();
    CHECK(hp.block.moe.n_expert == v.experts);
    CHECK(hp.block.moe.n_used == v.used);
    CHECK(hp.n_ff == v.ff_exp);
    CHECK(hp.n_ff_shared == v.ff_shared);
    CHECK(m->neuron_major() == v.down_t);
    CHECK(m->describe().find(fmt::format("x {} experts ({} per token", v.experts, v.used)) != std::string::npos);
    const auto f = gguf_file::open(path);
    const std::vector<vec> want = ref_moe{*f, v}.logits(k_toks);
    const auto batched = run(*m, 8, 6), single = run(*m, 1, 1, HEARTH_SPARSE_DENSE, 1);
    for (size_t i = 0; i < k_toks.size(); ++i) {
      CAPTURE(i);
      CHECK(rel_err(batched[i].data(), want[i]) < 1e-5);
      CHECK(rel_err(single[i].data(), want[i]) < 1e-5);
    }
    CHECK(max_diff(batched, single) < 1e-4);
    // ReLU-family experts: the exact gate computes fewer neurons and the same logits
    if (hp.block.ffn.relu_family() && m->neuron_major()) {
      const auto exact = run(*m, 8, 6, HEARTH_SPARSE_EXACT_GATE);
      CHECK(max_diff(exact, batched) < 1e-4);
      session_config sc;
      sc.n_ctx = 32;
      sc.sparse_mode = HEARTH_SPARSE_EXACT_GATE;
      session s(*m, sc);
      s.eval(k_toks.data(), 4, false);
      for (int i = 0; i < 3; ++i) s.eval(&k_toks[(size_t)(4 + i)], 1, false);
      const sparse_stats &st = s.stats();
      CHECK(st.neurons == (uint64_t)(7 * k_layers * v.used * v.ff_exp));  // the chosen experts' neurons
      CHECK(st.active > 0);
      CHECK(st.active < st.neurons * 3 / 4);  // dReLU on random weights: about a quarter of them fire
      CHECK(st.decode_bytes < 3.0 * (double)m->dense_bytes_per_token());
    }
  }
}

TEST_CASE("a mixture's dense step reads the chosen experts: bytes per token from the graph equal the model's count") {
  const moe_variant v = variants()[1];  // qwen3moe, 3 of 8
  const auto m = model::load(write(v));
  session_config sc;
  sc.n_ctx = 32;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  session s(*m, sc);
  s.eval(k_toks.data(), 3, false);
  for (int i = 0; i < 2; ++i) s.eval(&k_toks[(size_t)(3 + i)], 1, false);
  const sparse_stats &st = s.stats();
  REQUIRE(st.decode_tokens == 2);
  CHECK(st.decode_bytes / 2 == doctest::Approx((double)m->dense_bytes_per_token()).epsilon(1e-9));
  CHECK(st.active == st.neurons);
  // the model's count: per layer the router and 3 experts of 3 x 24 x 32 floats, not 8 of them
  uint64_t all_experts = 0;
  for (const layer &L : m->layers())
    for (const ffn_weights &e : L.moe.experts) all_experts += e.bytes();
  CHECK(m->dense_bytes_per_token() < m->weight_bytes() - all_experts / 2);
}

TEST_CASE("on the emulated device: experts on the CPU, whole layers, and experts' hot rows split: the CPU's logits") {
  for (const moe_variant &v : {variants()[0], variants()[2], variants()[4], variants()[6]}) {
    const std::string name = v.name;
    CAPTURE(name);
    const std::string path = write(v);
    const auto cpu = model::load(path);
    const auto want = run(*cpu, 8, 6);
    const int64_t all = (int64_t)k_layers * v.experts * v.ff_exp;
    for (int mode : {(int)offload_mode::attention, (int)offload_mode::layers, (int)offload_mode::hybrid, 5}) {
      const int32_t delay = mode == 5 ? 200 : 0;  // the hybrid split again, each device operator delayed (a missing wait shows)
      if (mode == 5) mode = (int)offload_mode::hybrid;
      CAPTURE(mode);
      CAPTURE(delay);
      if (mode == (int)offload_mode::hybrid && !v.down_t) continue;  // a row-major expert goes whole or not at all
      model_config mc;
      mc.offload.mode = mode;
      mc.offload.n_ctx = 32;
      mc.offload.sync_seconds = 1e-12;  // worth a round trip at any size
      // hybrid: about half the experts' rows; the others: everything
      mc.offload.budget = mode == (int)offload_mode::hybrid ? cpu->weight_bytes() / 2 : 8u << 20;
      mc.offload.open = [delay](std::string *) { return make_emulated_device(size_t(64) << 20, delay); };
      const auto g = model::load(path, mc);
      REQUIRE(g->gpu());
      CAPTURE(g->gpu()->describe());
      const offload &o = *g->gpu();
      CHECK(o.n_neurons() == (uint64_t)all);
      if (mode != (int)offload_mode::hybrid) CHECK(o.n_attention_layers() == k_layers);
      if (mode == (int)offload_mode::attention) CHECK(o.n_hot_neurons() == 0);  // the experts stay in host memory
      if (mode == (int)offload_mode::layers) CHECK(o.n_hot_neurons() == (uint64_t)all);
      if (mode == (int)offload_mode::hybrid) {
        CHECK(o.n_hot_neurons() > 0);
        CHECK(o.n_hot_neurons() < (uint64_t)all);
        bool split = false;  // some expert has rows on both sides
        for (int il = 0; il < k_layers; ++il)
          for (const neuron_table &t : o.expert_tables(il)) split |= !t.gpu.empty() && !t.cpu.empty();
        CHECK(split);
      }
      session_config sc;
      sc.n_ctx = 32;
      sc.n_batch = 8;
      sc.sparse_mode = HEARTH_SPARSE_DENSE;
      session s(*g, sc);
      REQUIRE(s.hybrid());
      const auto got = run(*g, 8, 6);
      CHECK(max_diff(got, want) < 1e-4);
      const auto one = run(*g, 1, 1);  // token by token: the GPU's experts run on single rows
      CHECK(max_diff(one, want) < 1e-4);
    }
  }
}

TEST_CASE("expert counts that disagree with expert_count / expert_used_count are refused naming them") {
  auto refused = [](const std::string &path, const std::string &what) {
    try {
      model::load(path);
      FAIL("loaded");
    } catch (const error &e) {
      CHECK(e.status() == HEARTH_ERR_BAD_FORMAT);
      CHECK_MESSAGE(std::string(e.what()).find(what) != std::string::npos, e.what());
    }
  };
  moe_variant v{"bad"};
  const std::string good = write(v);
  refused(test::rewrite_model(good, {{"llama.expert_used_count", 5}}), "llama.expert_used_count");
  refused(test::rewrite_model(good, {{"llama.expert_used_count", 0}}), "llama.expert_used_count");
  refused(test::rewrite_model(good, {{"llama.expert_count", 3}}), "blk.0.ffn_gate_inp.weight");
  v.file_experts = 5;
  refused(write(v), "blk.0.ffn_up_exps.weight");
  moe_variant q{"qwen3moe without experts", "qwen3moe"};
  refused(test::rewrite_model(write(q), {{"qwen3moe.expert_count", 0}, {"qwen3moe.expert_used_count", 0}}), "qwen3moe.expert_count");
  refused(test::rewrite_model(good, {}, {"ffn_down_exps.weight"}), "blk.0.ffn_down_exps.weight");
  moe_variant p{"predictors"};
  p.down_t = true, p.pred_rank = 8;
  CHECK(model::load(write(p))->has_predictors());
  p.pred_file_experts = 3;
  refused(write(p), "blk.0.fc2_exps.weight");
}

TEST_CASE("hearth synth writes mixtures with a skewed router and planted sparsity inside the experts") {
  for (const char *arch : {"llama", "qwen3moe"}) {
    CAPTURE(arch);
    synth_config c = test::small_config(dtype::q8_0, "drelu");
    c.arch = arch, c.n_embd = 128, c.n_ff = 256, c.n_layer = 2;
    c.n_expert = 8, c.n_expert_used = 2, c.expert_skew = 1.5f, c.sparsity = 0.85f;
    const std::string path = test::synth_model(c);
    const auto m = model::load(path);
    REQUIRE(m->hp().block.moe.n_expert == 8);
    CHECK(m->neuron_major());
    CHECK(!m->file().pwri());
    const auto f = gguf_file::open(path);
    for (int il = 0; il < 2; ++il) {
      const std::vector<float> fr = f->get_floats(key_name(kv::hearth_synthetic_expert_frequency, {}, il));
      REQUIRE(fr.size() == 8);
      CHECK(std::accumulate(fr.begin(), fr.end(), 0.0) == doctest::Approx(2.0).epsilon(1e-3));
      CHECK(*std::max_element(fr.begin(), fr.end()) > 3 * *std::min_element(fr.begin(), fr.end()));  // skewed
    }
    // the exact gate on the planted experts: dense's logits from about 15% of the chosen experts' neurons
    const auto dense = run(*m, 8, 6), exact = run(*m, 8, 6, HEARTH_SPARSE_EXACT_GATE);
    double mag = 0;
    for (const auto &row : dense)
      for (float v : row) mag = std::max(mag, (double)std::fabs(v));
    CHECK(max_diff(exact, dense) < 1e-4 * mag);
    session_config sc;
    sc.n_ctx = 32;
    sc.sparse_mode = HEARTH_SPARSE_EXACT_GATE;
    session s(*m, sc);
    s.eval(k_toks.data(), (int32_t)k_toks.size(), false);
    const double share = (double)s.stats().active / (double)s.stats().neurons;
    CHECK(share > 0.05);
    CHECK(share < 0.30);
    // the planted predictors of each expert (fc1_exps, fc2_exps) pick the same neurons, without reading the gate
    REQUIRE(m->has_predictors());
    const auto predicted = run(*m, 8, 6, HEARTH_SPARSE_PREDICTOR);
    CHECK(max_diff(predicted, dense) < 2e-2 * mag);  // its Q8_0 rows misjudge a few neurons near a zero gate
    session_config pc = sc;
    pc.sparse_mode = HEARTH_SPARSE_PREDICTOR;
    session ps(*m, pc);
    ps.eval(k_toks.data(), (int32_t)k_toks.size(), false);
    for (size_t i = 0; i + 1 < 4; ++i) ps.eval(&k_toks[i], 1, false), s.eval(&k_toks[i], 1, false);
    CHECK((double)ps.stats().active / (double)ps.stats().neurons == doctest::Approx(share).epsilon(0.1));
    CHECK(ps.stats().decode_bytes < s.stats().decode_bytes);  // the gates are not read whole
  }
  // without planting: SwiGLU experts (Mixtral's), a router planted on the features all the same
  synth_config c = test::small_config(dtype::q4_0, "silu");
  c.n_embd = 128, c.n_expert = 4, c.n_expert_used = 2;
  const auto m = model::load(test::synth_model(c));
  CHECK(m->hp().block.ffn.act == activation::silu);
  CHECK(!m->neuron_major());
  CHECK(max_diff(run(*m, 8, 6, HEARTH_SPARSE_DENSE, 1), run(*m, 8, 6, HEARTH_SPARSE_DENSE, 2)) == 0.0);  // any thread count
}

TEST_CASE("calibrating a mixture: expert and neuron frequencies measured, experts stored neuron-major, placement by them") {
  synth_config c = test::small_config(dtype::f32, "drelu");
  c.n_embd = 128, c.n_ff = 192, c.n_layer = 2, c.n_expert = 8, c.n_expert_used = 2, c.expert_skew = 1.5f, c.sparsity = 0.85f;
  c.llama_layout = true;  // llama.cpp's row-major experts, as a converted file has them
  const std::string src_path = test::synth_model(c);
  const auto src = model::load(src_path);
  REQUIRE(!src->neuron_major());
  calibrate_config cfg;
  cfg.profile.n_ctx = 128;
  const expert_calibration cal = calibrate_experts(*src, std::string(builtin_corpus()), cfg);
  REQUIRE(cal.expert_frequency.size() == 2);
  const std::string out = test::temp_path("moe-calibrated.gguf");
  write_calibrated_experts(*src, cal, cfg, out);
  const auto m = model::load(out);
  CHECK(m->neuron_major());
  for (int il = 0; il < 2; ++il) {
    CAPTURE(il);
    const std::vector<float> &fe = cal.expert_frequency[(size_t)il], &fn = cal.frequency[(size_t)il];
    CHECK(std::accumulate(fe.begin(), fe.end(), 0.0) == doctest::Approx(2.0).epsilon(1e-6));  // two choices per token
    const std::vector<float> planted = src->file().get_floats(key_name(kv::hearth_synthetic_expert_frequency, {}, il));
    CHECK(rank_correlation(planted, fe) > 0.8);  // the planted router's skew, measured on the corpus
    CHECK(m->file().get_floats(key_name(kv::hearth_calibration_expert_frequency, {}, il)) == fe);
    CHECK(m->file().get_floats(key_name(kv::hearth_calibration_frequency, {}, il)) == fn);
    double mean = 0;
    for (float v : fn) mean += v / (double)fn.size();
    CHECK(mean > 0.03);  // a dReLU neuron fires when its planted gate (15%) and its random up (half) are positive
    CHECK(mean < 0.15);
  }
  // the same logits from the transposed experts (F32: exact), and the exact gate equals dense on them
  const auto want = run(*src, 8, 6), dense = run(*m, 8, 6), exact = run(*m, 8, 6, HEARTH_SPARSE_EXACT_GATE);
  double mag = 0;
  for (const auto &row : want)
    for (float v : row) mag = std::max(mag, (double)std::fabs(v));
  CHECK(max_diff(dense, want) < 1e-5 * mag);
  CHECK(max_diff(exact, want) < 1e-5 * mag);
  // the placement weighs each expert's neurons by its choice: a third of the experts' rows serve well over a third
  // of the firings, and the hottest expert holds more GPU rows than the coldest
  placement_input in = placement_input_for(*m, 0, 32);
  uint64_t expert_bytes = 0;
  for (const layer &L : m->layers())
    for (const ffn_weights &e : L.moe.experts) expert_bytes += e.bytes();
  in.budget = expert_bytes / 3;
  in.sync_seconds = 1e-12;
  const placement p = solve_placement(in);
  uint64_t on_gpu = 0;
  for (const placement_layer &l : p.layers) on_gpu += l.gpu_neurons.size();
  const double neuron_share = (double)on_gpu / (2.0 * 8 * 192);
  CHECK(neuron_share > 0.1);
  CHECK(p.gpu_firing_share > 1.5 * neuron_share);
  const std::vector<float> &fe0 = cal.expert_frequency[0];
  const int hot = (int)(std::max_element(fe0.begin(), fe0.end()) - fe0.begin()), cold = (int)(std::min_element(fe0.begin(), fe0.end()) - fe0.begin());
  auto rows_of = [&](int e) { return std::count_if(p.layers[0].gpu_neurons.begin(), p.layers[0].gpu_neurons.end(), [&](int32_t id) { return id / 192 == e; }); };
  CHECK(rows_of(hot) > rows_of(cold));
}

TEST_CASE("CATS inside SiLU experts skips the share it was fitted to, near dense") {
  synth_config c = test::small_config(dtype::f32, "silu");
  c.n_embd = 128, c.n_ff = 192, c.n_expert = 4, c.n_expert_used = 2, c.neuron_major = true;
  const auto m = model::load(test::synth_model(c));
  REQUIRE(m->neuron_major());
  session_config sc;
  sc.n_ctx = 64;
  sc.sparse_mode = HEARTH_SPARSE_CATS;
  sc.cats_sparsity = 0.5f;
  session s(*m, sc);
  REQUIRE(s.mode() == sparse_mode::cats);
  s.eval(k_toks.data(), (int32_t)k_toks.size(), false);
  const double share = (double)s.stats().active / (double)s.stats().neurons;
  CHECK(share > 0.3);  // fitted on other text: about half of the chosen experts' neurons
  CHECK(share < 0.7);
  const auto dense = run(*m, 8, 6), cats = run(*m, 8, 6, HEARTH_SPARSE_CATS);
  double mag = 0;
  for (const auto &row : dense)
    for (float v : row) mag = std::max(mag, (double)std::fabs(v));
  CHECK(max_diff(cats, dense) < 0.2 * mag);  // an approximation: the skipped neurons' |act(gate)| is small, not zero
  CHECK(max_diff(cats, dense) > 0.0);
}
