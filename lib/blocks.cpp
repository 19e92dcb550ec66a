// The pieces of a transformer block, composed into a session's graph (graph_builder.h) under its placement:
//   embed -> per layer: attention (norm; Q/K/V with optional biases; optional Q/K head norms; RoPE; KV cache;
//   attention; output projection) and FFN (masks from the predictor, the exact gate or CATS; a GPU half over the
//   hot neurons and a CPU half over the cold ones; the merge), sequential or parallel -> output norm and logits.
// A piece says where it runs; the builder moves values between devices. Node bodies bind operators to their data:
// buffers by workspace id, weights by reference into the model (or its GPU part), per-step values from the step
// state.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "attention.h"
#include "device.h"
#include "error.h"
#include "graph_builder.h"
#include "moe.h"
#include "offload.h"
#include "ops.h"
#include "sparse_ffn.h"

namespace hearth {
namespace {

// The bytes one token reads of a matrix and its bias.
uint64_t bytes_of(const matrix &w, const std::vector<float> &b = {}) { return w.bytes() + b.size() * sizeof(float); }

class block_builder {
 public:
  explicit block_builder(graph_builder &b) : b_(b), m_(b.m()), hp_(b.hp()), spec_(hp_.block), st_(&b.st()), ws_(&b.ws()) {
    off_ = b.in().gpu;
    stream_ = b.in().stream;
    const int64_t nb = b.in().n_batch, d = hp_.n_embd, ff = hp_.n_ff;
    int64_t max_cols = std::max<int64_t>({d, ff, hp_.n_embd_q()});
    // CPU scratch: the main chain's, and the predictor's (it runs beside the FFN norm).
    const size_t q8_bytes = q8_scratch_bytes(nb, max_cols);
    qs_ = ws_->q8("q8 activations", q8_bytes);
    qs_pred_ = ws_->q8("q8 activations (predictor)", q8_bytes);
    sparse_ = ws_->sparse("sparse FFN scratch", (size_t)nb * (size_t)ff * 3 * sizeof(float) + 8 * (size_t)d * sizeof(float));
    masks_ = ws_->masks("FFN masks", (size_t)nb * (size_t)ff * (1 + sizeof(int32_t)));
  }

  void build() {
    const bool hybrid = off_ && stream_;
    // The residual stream; in a hybrid graph it shares storage with the index lists the GPU's predictor makes
    // for the CPU, so one download brings back both.
    value x;
    if (hybrid) {
      const std::vector<value> g =
          b_.make_group("x", {{"x", hp_.n_embd}, {"cold counts", 1}, {"hot counts", 1}, {"cold lists", hp_.n_ff}});
      x = g[0], cold_n_ = g[1], hot_n_ = g[2], lists_ = g[3];
      hot_counts_ = b_.make("hot counts (all layers)", (int64_t)hp_.n_layer);
    } else {
      x = b_.make("x", hp_.n_embd);
    }
    embed(x);
    for (int32_t il = 0; il < hp_.n_layer; ++il) {
      const place next = il + 1 < hp_.n_layer ? attention_place(il + 1) : output_place();
      if (spec_.moe.router_reads_input) early_router_ = route(il, x, false);  // on the layer's input, before attention
      if (spec_.parallel) {
        value a = temp(il, "attn_out", hp_.n_embd);
        attention(il, x, &a);
        ffn(il, x, &a, next);
      } else {
        attention(il, x, nullptr);
        ffn(il, x, nullptr, next);
      }
    }
    if (hybrid && any_gpu_predictor_) download_hot_counts();
    output(x);
  }

 private:
  // ---- placement -----------------------------------------------------------------------------------------
  const offload_layer *gpu_layer(int32_t il) const { return off_ && stream_ ? &off_->layers()[(size_t)il] : nullptr; }
  place attention_place(int32_t il) const {
    const offload_layer *ol = gpu_layer(il);
    return ol && ol->attention ? place::gpu : place::cpu;
  }
  place output_place() const { return off_ && stream_ && off_->output_on_gpu() ? place::gpu : place::cpu; }
  // Layer il's value of a role that lives within the layer (graph_builder::temporary).
  value temp(int32_t il, const char *role, int64_t width) {
    return b_.temporary(role, fmt::format("blk.{}.{}", il, role), width);
  }
  float threshold(int32_t il) const { return (*b_.in().thresholds)[(size_t)il]; }

  // A node; its body takes the node itself (to report what it computed) or nothing.
  template <class F>
  node &add(std::string name, node_kind kind, place where, int32_t layer, std::vector<int32_t> reads,
            std::vector<int32_t> writes, F &&run) {
    node n;
    n.name = std::move(name);
    n.kind = kind;
    n.where = where;
    n.layer = layer;
    n.reads = std::move(reads);
    n.writes = std::move(writes);
    if constexpr (std::is_invocable_v<F, node &>) n.run = std::forward<F>(run);
    else n.run = [f = std::forward<F>(run)](node &) { f(); };
    return b_.add(std::move(n));
  }

  // ---- embedding ---------------------------------------------------------------------------------------------
  void embed(const value &x) {
    const loc X = b_.at(x, place::cpu);
    const matrix *E = &m_.tok_embd();
    const step_state *st = st_;
    const float scale = spec_.embd_scale;
    const int64_t d = hp_.n_embd;
    const matrix *P = m_.pos_embd() ? &m_.pos_embd() : nullptr;
    const int32_t offset = spec_.pos_offset;
    node &n = add("token_embd", node_kind::embed, place::cpu, -1, {}, {X.res}, [=] {
      hearth::embed(*E, st->tokens, st->n, X.f(st->n));
      if (scale != 0.0f)
        for (float *v = X.f(st->n), *e = v + st->n * d; v < e; ++v) *v *= scale;
      if (P) add_positions(*P, st->pos.data(), offset, st->n, X.f(st->n));
    });
    n.weight_bytes = E->row_size + (P ? P->row_size : 0);
    b_.wrote(x, place::cpu);
  }

  // ---- attention -----------------------------------------------------------------------------------------------
  // Sequential blocks add the attention's output to x; parallel ones write it to *out for the merge.
  void attention(int32_t il, value &x, value *out) {
    const place p = attention_place(il);
    const layer &L = m_.layers()[(size_t)il];
    const std::string pre = fmt::format("blk.{}.", il);
    const int64_t d = hp_.n_embd, dq = hp_.n_embd_q(), dkv = hp_.n_embd_kv();
    value xn = temp(il, "attn_norm", d), q = temp(il, "q", dq), k = temp(il, "k", dkv), v = temp(il, "v", dkv);
    value att = temp(il, "attention", dq), o = out ? *out : temp(il, "attn_output", d);
    b_.need(x, p);
    const loc X = b_.at(x, p), XN = b_.at(xn, p), Q = b_.at(q, p), K = b_.at(k, p), V = b_.at(v, p), A = b_.at(att, p), O = b_.at(o, p);
    // the caches are the layer's own (they outlive the step); the host's in its KV types, the device's in its own
    const dtype tk = b_.in().type_k, tv = b_.in().type_v;
    auto cache = [&](const std::string &name, dtype type) {
      if (p == place::gpu) return ws_->device(pre + name + "@gpu", (size_t)b_.in().n_ctx * (size_t)dkv * b_.in().device_kv_bytes);
      return ws_->host(pre + name, (size_t)b_.in().n_ctx * row_bytes(type, dkv));
    };
    const int32_t kc = cache("k cache", tk), vc = cache("v cache", tv);
    const size_t k_row = row_bytes(tk, dkv), v_row = row_bytes(tv, dkv);
    if (p == place::gpu) {
      const size_t dev_row = (size_t)dkv * b_.in().device_kv_bytes;
      const dtype dev_type = b_.in().device_kv_bytes == 2 ? dtype::f16 : dtype::f32;
      b_.add_kv_cache({il, p, kc, vc, dev_type, dev_type, dev_row, dev_row});
    } else {
      b_.add_kv_cache({il, p, kc, vc, tk, tv, k_row, v_row});
    }
    const step_state *st = st_;
    const workspace *ws = ws_;
    const block_spec spec = spec_;
    const int32_t n_head = hp_.n_head, n_head_kv = hp_.n_head_kv, hd = hp_.head_dim();
    const rope_spec *rs = &hp_.rope_of(il, b_.in().n_ctx);  // the model's, which outlives the graph
    const attention_spec as = hp_.attention_of(il);
    if (p == place::cpu) {
      const int32_t qs = qs_;
      add(pre + "attn_norm", node_kind::attention, p, il, {X.res}, {XN.res},
          [=, &L] { norm(spec.norm, L.attn_norm, spec.norm_eps, X.f(st->n), st->n, d, XN.f(st->n)); })
          .weight_bytes = L.attn_norm.bytes();
      add(pre + "attn_qkv", node_kind::attention, p, il, {XN.res}, {Q.res, K.res, V.res, qs}, [=, &L] {
        const int64_t n = st->n;
        const matrix *w[3] = {&L.wq, &L.wk, &L.wv};
        float *y[3] = {Q.f(n), K.f(n), V.f(n)};
        matmul_shared(w, y, 3, XN.f(n), n, ws->q8_at(qs));
        if (!L.bq.empty()) add_bias(y[0], L.bq.data(), n, dq);
        if (!L.bk.empty()) add_bias(y[1], L.bk.data(), n, dkv);
        if (!L.bv.empty()) add_bias(y[2], L.bv.data(), n, dkv);
      }).weight_bytes = bytes_of(L.wq, L.bq) + bytes_of(L.wk, L.bk) + bytes_of(L.wv, L.bv);
      add(pre + "attn_rope", node_kind::attention, p, il, {Q.res, K.res}, {Q.res, K.res}, [=, &L] {
        const int64_t n = st->n;
        if (spec.qk_norm) {
          head_norm(Q.f(n), L.q_norm.w.data(), n, n_head, hd, spec.norm_eps);
          head_norm(K.f(n), L.k_norm.w.data(), n, n_head_kv, hd, spec.norm_eps);
        }
        rope(Q.f(n), n, n_head, hd, *rs, st->pos.data());
        rope(K.f(n), n, n_head_kv, hd, *rs, st->pos.data());
      }).weight_bytes = L.q_norm.bytes() + L.k_norm.bytes();
      add(pre + "kv_store", node_kind::attention, p, il, {K.res, V.res}, {kc, vc}, [=] {
        const int64_t n = st->n;
        store_kv(tk, K.f(n), n, dkv, ws->at<uint8_t>(kc), st->pos0);
        store_kv(tv, V.f(n), n, dkv, ws->at<uint8_t>(vc), st->pos0);
      });
      add(pre + "attend", node_kind::attention, p, il, {Q.res, kc, vc}, {A.res}, [=] {
        attend(Q.f(st->n), kv_cache_view{tk, ws->at<uint8_t>(kc), k_row}, kv_cache_view{tv, ws->at<uint8_t>(vc), v_row},
               st->n, st->pos0, as, A.f(st->n));
      });
      add(pre + "attn_output", node_kind::attention, p, il, {A.res}, {O.res, qs}, [=, &L] {
        const int64_t n = st->n;
        matmul(L.wo, A.f(n), n, O.f(n), ws->q8_at(qs));
        if (!L.bo.empty()) add_bias(O.f(n), L.bo.data(), n, d);
        if (L.attn_post_norm) norm(spec.norm, L.attn_post_norm, spec.norm_eps, O.f(n), n, d, O.f(n));
      }).weight_bytes = bytes_of(L.wo, L.bo) + L.attn_post_norm.bytes();
      if (!out)
        add(pre + "attn_residual", node_kind::attention, p, il, {X.res, O.res}, {X.res},
            [=] { hearth::add(X.f(st->n), O.f(st->n), st->n * d); });
    } else {
      const offload_layer *ol = gpu_layer(il);
      device_stream *sm = stream_;
      const int64_t dev_kv_row = dkv;
      add(pre + "attn_norm", node_kind::attention, p, il, {X.res}, {XN.res}, [=] {
        sm->norm(spec.norm, X.f(st->n), ol->attn_norm.w, ol->attn_norm.b, st->n, d, spec.norm_eps, XN.f(st->n));
      }).weight_bytes = L.attn_norm.bytes();
      add(pre + "attn_qkv", node_kind::attention, p, il, {XN.res}, {Q.res, K.res, V.res}, [=] {
        const int64_t n = st->n;
        sm->matmul(ol->wq, XN.f(n), n, Q.f(n));
        sm->matmul(ol->wk, XN.f(n), n, K.f(n));
        sm->matmul(ol->wv, XN.f(n), n, V.f(n));
        if (ol->bq) sm->add_bias(Q.f(n), ol->bq, n, dq);
        if (ol->bk) sm->add_bias(K.f(n), ol->bk, n, dkv);
        if (ol->bv) sm->add_bias(V.f(n), ol->bv, n, dkv);
      }).weight_bytes = bytes_of(L.wq, L.bq) + bytes_of(L.wk, L.bk) + bytes_of(L.wv, L.bv);
      add(pre + "attn_rope", node_kind::attention, p, il, {Q.res, K.res}, {Q.res, K.res}, [=] {
        const int64_t n = st->n;
        if (spec.qk_norm) {
          sm->head_norm(Q.f(n), ol->q_norm.w, n, n_head, hd, spec.norm_eps);
          sm->head_norm(K.f(n), ol->k_norm.w, n, n_head_kv, hd, spec.norm_eps);
        }
        sm->rope(Q.f(n), n, n_head, hd, *rs, st->pos0);
        sm->rope(K.f(n), n, n_head_kv, hd, *rs, st->pos0);
      }).weight_bytes = L.q_norm.bytes() + L.k_norm.bytes();
      add(pre + "kv_store", node_kind::attention, p, il, {K.res, V.res}, {kc, vc}, [=] {
        sm->store_kv(ws->at<void>(kc), K.f(st->n), st->n, st->pos0, dev_kv_row);
        sm->store_kv(ws->at<void>(vc), V.f(st->n), st->n, st->pos0, dev_kv_row);
      });
      add(pre + "attend", node_kind::attention, p, il, {Q.res, kc, vc}, {A.res}, [=] {
        sm->attend(Q.f(st->n), ws->at<void>(kc), ws->at<void>(vc), st->n, st->pos0, as, A.f(st->n));
      });
      add(pre + "attn_output", node_kind::attention, p, il, {A.res}, {O.res}, [=] {
        const int64_t n = st->n;
        sm->matmul(ol->wo, A.f(n), n, O.f(n));
        if (ol->bo) sm->add_bias(O.f(n), ol->bo, n, d);
        if (ol->attn_post_norm) sm->norm(spec.norm, O.f(n), ol->attn_post_norm.w, ol->attn_post_norm.b, n, d, spec.norm_eps, O.f(n));
      }).weight_bytes = bytes_of(L.wo, L.bo) + L.attn_post_norm.bytes();
      if (!out)
        add(pre + "attn_residual", node_kind::attention, p, il, {X.res, O.res}, {X.res},
            [=] { sm->add(X.f(st->n), O.f(st->n), st->n * d); });
    }
    if (out) b_.wrote(*out, p);
    else b_.wrote(x, p);
  }

  // ---- FFN -----------------------------------------------------------------------------------------------------
  // x is the FFN's input before its norm (the residual; in a parallel block, the block's input); the halves'
  // outputs (and a parallel block's attention output) are added to it where the next consumer of x is cheapest
  // to reach.
  void ffn(int32_t il, value &x, value *attn_out, place next) {
    if (spec_.moe) return moe(il, x, attn_out, next, early_router_);
    const layer &L = m_.layers()[(size_t)il];
    const offload_layer *ol = gpu_layer(il);
    const neuron_table *table = off_ && stream_ ? &off_->table(il) : nullptr;
    const bool gpu_half = ol && ol->n_hot > 0;
    const bool cpu_half = !table || !table->cpu.empty();
    const place ap = attention_place(il);
    const sparse_mode mode = b_.in().mode;
    const std::string pre = fmt::format("blk.{}.", il);
    const int64_t d = hp_.n_embd, ff = hp_.n_ff;
    const step_state *st = st_;
    const workspace *ws = ws_;
    const block_spec spec = spec_;
    const norm_weights &fnorm = L.ffn_input_norm(spec.parallel);
    const std::vector<float> *thresholds = b_.in().thresholds;

    // -- masks
    value logits = temp(il, "predictor logits", ff);
    bool gpu_predictor = false, cpu_masks = false;
    value xn_c = temp(il, "ffn_norm", d), gate_dense = temp(il, "gate", ff);
    bool xn_c_done = false, gate_done = false;
    if (mode == sparse_mode::predictor && ap == place::gpu) {
      gpu_predictor = any_gpu_predictor_ = true;
      device_stream *sm = stream_;
      value hidden = temp(il, "predictor hidden", L.fc1.rows);
      b_.need(x, place::gpu);
      const loc X = b_.at(x, place::gpu), H = b_.at(hidden, place::gpu), LG = b_.at(logits, place::gpu);
      const loc CN = b_.at(cold_n_, place::gpu), LS = b_.at(lists_, place::gpu), HC = b_.at(hot_counts_, place::gpu);
      const int64_t nb = b_.in().n_batch;
      node &n = add(pre + "predictor", node_kind::predictor, place::gpu, il, {X.res}, {H.res, LG.res, CN.res, HC.res}, [=] {
        const int64_t n = st->n;
        sm->matmul(ol->fc1, X.f(n), n, H.f(n));
        sm->relu(H.f(n), n * ol->fc1.rows);
        sm->matmul(ol->fc2, H.f(n), n, LG.f(n));
        // the CPU's index lists beside x (cold counts, then the GPU's own counts, then the lists)
        sm->cold_lists(LG.f(n), n, (int32_t)ff, (*thresholds)[(size_t)il], ol->row_of, LS.i(n), CN.i(n));
        sm->copy(HC.ws->at<int32_t>(HC.res) + (size_t)il * nb, CN.i(n) + n, (size_t)n * sizeof(int32_t));
      });
      n.weight_bytes = L.fc1.bytes() + L.fc2.bytes();
      for (const value *v : {&logits, &cold_n_, &hot_n_, &lists_}) b_.wrote(*v, place::gpu);
      // hot counts of all layers: one buffer, written here for this layer
      b_.wrote(hot_counts_, place::gpu);
    } else if (mode == sparse_mode::predictor) {
      b_.need(x, place::cpu);
      value hidden = temp(il, "predictor hidden", L.fc1.rows);
      const loc X = b_.at(x, place::cpu), H = b_.at(hidden, place::cpu), LG = b_.at(logits, place::cpu);
      const int32_t qs = qs_pred_, mk = masks_;
      node &n = add(pre + "predictor", node_kind::predictor, place::cpu, il, {X.res}, {H.res, LG.res, mk, qs}, [=, &L] {
        predict_masks(L.fc1, L.fc2, X.f(st->n), st->n, (*thresholds)[(size_t)il], ws->masks_at(mk), H.f(st->n), LG.f(st->n),
                      ws->q8_at(qs));
      });
      n.weight_bytes = L.fc1.bytes() + L.fc2.bytes();
      b_.wrote(logits, place::cpu);
      cpu_masks = true;
    } else if (mode == sparse_mode::exact_gate || mode == sparse_mode::cats) {
      // Dense gate (for a gate-less FFN, its up projection), then the masks from it; the FFN reuses the values.
      b_.need(x, place::cpu);
      const loc X = b_.at(x, place::cpu), XN = b_.at(xn_c, place::cpu), G = b_.at(gate_dense, place::cpu);
      add(pre + "ffn_norm", node_kind::mask, place::cpu, il, {X.res}, {XN.res},
          [=, &fnorm] { norm(spec.norm, fnorm, spec.norm_eps, X.f(st->n), st->n, d, XN.f(st->n)); })
          .weight_bytes = fnorm.bytes();
      const int32_t qs = qs_, mk = masks_;
      const bool cats = mode == sparse_mode::cats;
      std::vector<std::vector<float>> *samples = b_.in().taps.cats_samples;
      const matrix *gm = spec.ffn.gated ? &L.gate : &L.up;
      const std::vector<float> *gb = spec.ffn.gated ? &L.bgate : &L.bup;
      node &n = add(pre + "ffn_gate", node_kind::mask, place::cpu, il, {XN.res}, {G.res, mk, qs}, [=] {
        const int64_t n = st->n;
        float *g = G.f(n);
        matmul(*gm, XN.f(n), n, g, ws->q8_at(qs));
        if (!gb->empty()) add_bias(g, gb->data(), n, ff);
        if (st->collect_cats && samples)
          for (int64_t i = 0; i < n * ff; ++i) (*samples)[(size_t)il].push_back(std::fabs(act_value(spec.ffn.act, g[i])));
        gate_masks(g, n, (int32_t)ff, cats, spec.ffn.act, st->collect_cats ? -1.0f : (*thresholds)[(size_t)il], ws->masks_at(mk));
      });
      n.weight_bytes = bytes_of(*gm, *gb);
      b_.wrote(xn_c, place::cpu);
      b_.wrote(gate_dense, place::cpu);
      xn_c_done = gate_done = cpu_masks = true;
    }

    std::vector<std::pair<value, place>> parts;  // what the merge adds to x, and where each is

    // -- the GPU half: the hot neurons
    if (gpu_half) {
      device_stream *sm = stream_;
      if (mode == sparse_mode::predictor && !gpu_predictor) b_.need(logits, place::gpu);  // the CPU predictor's
      b_.need(x, place::gpu);
      value xn_g = temp(il, "ffn_norm (GPU)", d), a = temp(il, "hot activations", ol->down ? ff : ol->n_hot);
      value gtmp = temp(il, "gate (GPU)", ol->down ? ff : 1), y = temp(il, "ffn_out (GPU)", d);
      const loc X = b_.at(x, place::gpu), XN = b_.at(xn_g, place::gpu), A = b_.at(a, place::gpu), GT = b_.at(gtmp, place::gpu);
      const loc Y = b_.at(y, place::gpu), LG = b_.at(logits, place::gpu);
      if (hot_down_scratch_ < 0)  // one for all layers, like the temporaries
        hot_down_scratch_ = ws_->device("hot_down scratch@gpu", hot_down_scratch_max(b_.in().n_batch, d) * sizeof(float));
      const int32_t sc = hot_down_scratch_;
      const bool predictor = mode == sparse_mode::predictor;
      const ffn_form form = spec.ffn;
      std::vector<int32_t> reads = {X.res};
      if (predictor) reads.push_back(LG.res);
      if (predictor && !gpu_predictor) reads.push_back(masks_);  // counts its neurons from the CPU predictor's masks
      const neuron_table *tb = table;
      const int32_t mk = masks_;
      const bool count_dense = !predictor, count_masks = predictor && !gpu_predictor;
      const int32_t n_hot = ol->n_hot;
      node &n = add(pre + "ffn (GPU)", node_kind::ffn, place::gpu, il, reads, {XN.res, A.res, GT.res, Y.res, sc}, [=](node &self) {
        const int64_t n = st->n;
        sm->norm(spec.norm, X.f(n), ol->ffn_norm.w, ol->ffn_norm.b, n, d, spec.norm_eps, XN.f(n));
        if (ol->down) {  // a whole row-major FFN
          if (ol->gate) sm->matmul(ol->gate, XN.f(n), n, GT.f(n));
          sm->matmul(ol->up, XN.f(n), n, A.f(n));
          if (ol->bgate) sm->add_bias(GT.f(n), ol->bgate, n, ff);
          if (ol->bup) sm->add_bias(A.f(n), ol->bup, n, ff);
          sm->activate(form, GT.f(n), A.f(n), n * ff);
          sm->matmul(ol->down, A.f(n), n, Y.f(n));
        } else {
          sm->hot_gate_up(ol->gate, ol->up, ol->bgate, ol->bup, form, XN.f(n), n, predictor ? LG.f(n) : nullptr, (int32_t)ff,
                          ol->orig, (*thresholds)[(size_t)il], A.f(n));
          sm->hot_down(ol->down_t, A.f(n), n, ws->at<float>(sc), Y.f(n));
        }
        // its neurons: all of them (dense), the CPU predictor's masks on the GPU's rows, or (below) what the GPU
        // counted itself
        if (count_dense) self.active = (uint64_t)(n * n_hot);
        if (count_masks) {
          uint64_t hot = 0;
          for (const auto &list : ws->masks_at(mk).active)
            for (int32_t i : list) hot += tb->on_gpu[(size_t)i];
          self.active = hot;
        }
      });
      if (gpu_predictor) {
        n.counts_res = b_.res(hot_counts_, place::cpu);
        n.counts_offset = (int64_t)il * b_.in().n_batch;
      }
      n.neuron_bytes = ol->neuron_bytes;
      n.weight_bytes = ol->down ? L.down.bytes() : 0;
      b_.wrote(xn_g, place::gpu);
      b_.wrote(y, place::gpu);
      parts.push_back({y, place::gpu});
    }

    // -- the CPU half: the cold neurons (every neuron without a GPU part)
    if (cpu_half) {
      if (gpu_predictor) {
        b_.need({&x, &cold_n_, &hot_n_, &lists_}, place::cpu);  // one download
        const loc CN = b_.at(cold_n_, place::cpu), LS = b_.at(lists_, place::cpu);
        const int32_t mk = masks_;
        add(pre + "ffn_masks (lists)", node_kind::mask, place::cpu, il, {CN.res}, {mk},
            [=] { list_masks(CN.i(st->n), LS.i(st->n), st->n, (int32_t)ff, ws->masks_at(mk)); });
        cpu_masks = true;
      }
      b_.need(x, place::cpu);
      const loc X = b_.at(x, place::cpu), XN = b_.at(xn_c, place::cpu), G = b_.at(gate_dense, place::cpu);
      if (!xn_c_done)
        add(pre + "ffn_norm", node_kind::ffn, place::cpu, il, {X.res}, {XN.res},
            [=, &fnorm] { norm(spec.norm, fnorm, spec.norm_eps, X.f(st->n), st->n, d, XN.f(st->n)); })
            .weight_bytes = fnorm.bytes();
      value y = temp(il, "ffn_out", d), up = temp(il, "up", ff), gate = temp(il, "gate (dense)", ff);
      const loc Y = b_.at(y, place::cpu), U = b_.at(up, place::cpu), GD = b_.at(gate, place::cpu);
      const int32_t qs = qs_, sp = sparse_, mk = masks_;
      const ffn_form form = spec.ffn;
      // every neuron, as a dense engine computes them (no GPU part, or none of this layer's neurons on the GPU)
      const bool dense_all = mode == sparse_mode::dense && (!table || table->gpu.empty());
      const bool split_dense = mode == sparse_mode::dense && !dense_all;
      const bool gate_given = gate_done;
      ffn_observer *obs = b_.in().taps.observer;
      std::vector<uint64_t> *fired = b_.in().taps.fired;
      std::vector<int32_t> reads = {XN.res, X.res};
      if (cpu_masks) reads.push_back(mk);
      if (gate_given) reads.push_back(G.res);
      std::vector<int32_t> writes = {Y.res, U.res, GD.res, qs, sp};
      if (split_dense) writes.push_back(mk);
      node &n = add(pre + "ffn", node_kind::ffn, place::cpu, il, reads, writes, [] {});
      if (dense_all) {
        const std::shared_ptr<const std::vector<int32_t>> all = all_rows();
        n.run = [=, &L](node &self) {
          const int64_t n = st->n;
          const matrix *w[2] = {&L.up, &L.gate};
          float *yv[2] = {U.f(n), GD.f(n)};
          matmul_shared(w, yv, L.gate ? 2 : 1, XN.f(n), n, ws->q8_at(qs));
          if (!L.bup.empty()) add_bias(U.f(n), L.bup.data(), n, ff);
          if (!L.bgate.empty()) add_bias(GD.f(n), L.bgate.data(), n, ff);
          ffn_activate(form, GD.f(n), U.f(n), n * ff);
          if (L.down) {
            matmul(L.down, U.f(n), n, Y.f(n), ws->q8_at(qs));
          } else {  // neuron-major file, every row, zeros included (the honest dense baseline)
            rows_axpy(L.down_t, all->data(), ff, U.f(n), n, Y.f(n), ws->sparse_at(sp), false);
          }
          self.active = (uint64_t)(n * ff);
          if (obs) obs->on_ffn(il, X.f(n), U.f(n), n);
          if (fired) {
            uint64_t *f = fired->data() + (size_t)il * ff;
            const float *u = U.f(n);
            for (int64_t t = 0; t < n; ++t)
              for (int64_t i = 0; i < ff; ++i) f[i] += u[t * ff + i] != 0.0f;
          }
        };
        n.weight_bytes = L.ffn_bytes();
      } else {
        n.run = [=, &L](node &self) {
          const int64_t n = st->n;
          ffn_masks &masks = ws->masks_at(mk);
          sparse_scratch &s = ws->sparse_at(sp);
          if (split_dense) {  // the CPU half of a dense FFN split with the GPU: every CPU neuron
            masks.reset(n, (int32_t)ff);
            for (int64_t t = 0; t < n; ++t)
              for (int32_t i : table->cpu) masks.add(t, i);
            masks.finish();
          }
          std::vector<int32_t> &active = s.rows;
          if (table) table->cpu_active(masks.uni, active);
          else active = masks.uni;
          const bool gateless = !form.gated;
          if (L.down_t) {
            sparse_ffn(L, form, XN.f(n), n, masks, active, gate_given && !gateless ? G.f(n) : nullptr,
                       gate_given && gateless ? G.f(n) : nullptr, Y.f(n), s, ws->q8_at(qs));
          } else {
            // Row-major ffn_down (a plain llama.cpp file): up only for active neurons, then a dense down projection.
            float *u = U.f(n);
            std::fill(u, u + n * ff, 0.0f);
            const int64_t K = (int64_t)active.size();
            s.u.resize((size_t)(n * K));
            rows_dot(L.up, active.data(), K, XN.f(n), n, s.u.data(), ws->q8_at(qs));
            for (int64_t t = 0; t < n; ++t)
              for (int64_t j = 0; j < K; ++j)
                u[t * ff + active[(size_t)j]] = s.u[(size_t)(t * K + j)] + (L.bup.empty() ? 0.0f : L.bup[(size_t)active[(size_t)j]]);
            for (int64_t t = 0; t < n; ++t)
              for (int64_t i = 0; i < ff; ++i)
                if (!masks.flags[(size_t)(t * ff + i)]) u[t * ff + i] = 0.0f;
            ffn_activate(form, G.f(n), u, n * ff);
            matmul(L.down, u, n, Y.f(n), ws->q8_at(qs));
          }
          uint64_t count = 0;  // the CPU's share of the active neurons
          for (const auto &list : masks.active)
            for (int32_t i : list) count += !table || !table->on_gpu[(size_t)i];
          self.active = count;
          if (fired) {
            uint64_t *f = fired->data() + (size_t)il * ff;
            for (const auto &list : masks.active)
              for (int32_t i : list) ++f[i];
          }
        };
        // per active neuron: its up row (unless a gate-less FFN's mask pass already computed up densely), its
        // down row (neuron-major), its gate row (unless the mask pass computed the gate)
        const bool up_given = gate_done && !form.gated;
        n.neuron_bytes = (up_given ? 0 : L.up.row_size) + (L.down_t ? L.down_t.row_size : 0) + (!gate_done && L.gate ? L.gate.row_size : 0);
        n.weight_bytes = L.down_t ? 0 : L.down.bytes();
      }
      b_.wrote(y, place::cpu);
      parts.push_back({y, place::cpu});
    }
    const size_t n_ffn_parts = parts.size();
    if (attn_out) parts.push_back({*attn_out, b_.current(*attn_out, place::gpu) ? place::gpu : place::cpu});
    merge(il, x, parts, n_ffn_parts, next);
  }

  // A mixture of experts: the FFN norm and the router on the CPU (so the host knows each step's choice when it
  // enqueues the GPU's work), then the experts' CPU part (every expert not on the GPU, the cold rows of those
  // split with it, the shared expert) and, with a GPU part, the experts' hot rows there; then the merge.
  // The router's node: reads xr on the CPU (the FFN's normed input, or with `normed` false the layer's input),
  // writes the choice (n x k expert ids, then n x k weights) to a host buffer, whose id it returns.
  int32_t route(int32_t il, value &xr, bool normed) {
    const layer &L = m_.layers()[(size_t)il];
    const int64_t nb = b_.in().n_batch;
    const int32_t k = spec_.moe.n_used, ff = hp_.n_ff;
    b_.need(xr, place::cpu);
    const loc XR = b_.at(xr, place::cpu);
    const int32_t rt = ws_->host(fmt::format("blk.{}.routing", il), (size_t)nb * (size_t)k * 8);
    const int32_t qs = normed ? qs_ : qs_pred_;  // the early router runs beside the attention's chain
    const step_state *st = st_;
    const workspace *ws = ws_;
    const moe_spec spec = spec_.moe;
    auto scratch = std::make_shared<moe_scratch>();
    node &router = add(fmt::format("blk.{}.ffn_router", il), node_kind::mask, place::cpu, il, {XR.res}, {rt, qs}, [=, &L] {
      int32_t *ids = ws->at<int32_t>(rt);
      moe_route(L.moe, spec, XR.f(st->n), st->n, ids, (float *)(ids + nb * k), *scratch, ws->q8_at(qs));
    });
    router.weight_bytes = L.moe.router.bytes();
    router.n_neurons = ff * k;  // the layer answers for its chosen experts' neurons, wherever they run
    return rt;
  }

  void moe(int32_t il, value &x, value *attn_out, place next, int32_t early_rt) {
    const layer &L = m_.layers()[(size_t)il];
    const offload_layer *ol = gpu_layer(il);
    const std::vector<neuron_table> *tables = ol ? &off_->expert_tables(il) : nullptr;
    bool gpu_part = false, cpu_part = bool(L.moe.shared) || !tables;
    if (tables)
      for (const neuron_table &t : *tables) gpu_part |= !t.gpu.empty(), cpu_part |= !t.cpu.empty();
    const std::string pre = fmt::format("blk.{}.", il);
    const int64_t d = hp_.n_embd, ff = hp_.n_ff, nb = b_.in().n_batch;
    const int32_t k = spec_.moe.n_used;
    const step_state *st = st_;
    const workspace *ws = ws_;
    const block_spec spec = spec_;
    const norm_weights &fnorm = L.ffn_input_norm(spec.parallel);
    b_.need(x, place::cpu);
    value xn = temp(il, "ffn_norm", d);
    const loc X = b_.at(x, place::cpu), XN = b_.at(xn, place::cpu);
    add(pre + "ffn_norm", node_kind::ffn, place::cpu, il, {X.res}, {XN.res},
        [=, &fnorm] { norm(spec.norm, fnorm, spec.norm_eps, X.f(st->n), st->n, d, XN.f(st->n)); })
        .weight_bytes = fnorm.bytes();
    b_.wrote(xn, place::cpu);
    const int32_t rt = early_rt >= 0 ? early_rt : route(il, xn, true);
    const int32_t qs = qs_, sp = sparse_;
    auto cpu_scratch = std::make_shared<moe_scratch>(), gpu_scratch = std::make_shared<moe_scratch>();  // the nodes' own
    std::vector<std::pair<value, place>> parts;
    if (cpu_part) {
      value y = temp(il, "ffn_out", d);
      const loc Y = b_.at(y, place::cpu);
      const sparse_mode mode = b_.in().mode;
      const std::vector<float> *thresholds = b_.in().thresholds;
      std::vector<std::vector<float>> *samples = b_.in().taps.cats_samples;
      const int32_t E = spec.moe.n_expert;
      // the session's counts (its statistics, which a reset replaces), this layer's part at run time
      std::vector<uint64_t> *fired = b_.in().taps.fired, *chosen = b_.in().taps.expert_chosen;
      add(pre + "ffn_moe", node_kind::ffn, place::cpu, il, {XN.res, X.res, rt}, {Y.res, qs, sp}, [=, &L](node &self) {
        const int64_t n = st->n;
        moe_taps taps;
        taps.samples = st->collect_cats && samples ? &(*samples)[(size_t)il] : nullptr;
        if (fired) taps.fired = fired->data() + (size_t)il * (size_t)E * (size_t)ff;
        if (chosen) taps.chosen = chosen->data() + (size_t)il * (size_t)E;
        const float th = st->collect_cats ? -1.0f : (*thresholds)[(size_t)il];
        const int32_t *ids = ws->at<int32_t>(rt);
        const moe_result r = moe_experts(L.moe, spec, mode, th, XN.f(n), X.f(n), n, ids, (const float *)(ids + nb * k), tables,
                                         Y.f(n), *cpu_scratch, ws->sparse_at(sp), ws->q8_at(qs), taps);
        self.active = r.active;
        self.read_bytes = r.bytes;
      });
      b_.wrote(y, place::cpu);
      parts.push_back({y, place::cpu});
    }
    if (gpu_part) {
      device_stream *sm = stream_;
      b_.need(xn, place::gpu);
      value yg = temp(il, "ffn_out (GPU)", d);
      const loc XG = b_.at(xn, place::gpu), YG = b_.at(yg, place::gpu);
      if (moe_dev_.empty()) {  // one set for all layers, like the temporaries: gathered inputs, gate, activations, output
        for (const auto &[name, bytes] : {std::pair{"moe inputs@gpu", nb * d}, {"moe gate@gpu", nb * ff}, {"moe activations@gpu", nb * ff},
                                          {"moe expert output@gpu", nb * d}})
          moe_dev_.push_back(ws_->device(name, (size_t)bytes * sizeof(float)));
        if (hot_down_scratch_ < 0)
          hot_down_scratch_ = ws_->device("hot_down scratch@gpu", hot_down_scratch_max(nb, d) * sizeof(float));
      }
      const int32_t gx = moe_dev_[0], gg = moe_dev_[1], ga = moe_dev_[2], gy = moe_dev_[3], sc = hot_down_scratch_;
      const ffn_form form = spec.ffn;
      const int32_t E = spec.moe.n_expert;
      node &n = add(pre + "ffn_moe (GPU)", node_kind::ffn, place::gpu, il, {XG.res, rt}, {YG.res, gx, gg, ga, gy, sc}, [=](node &self) {
        const int64_t n = st->n;
        const int32_t *ids = ws->at<int32_t>(rt);
        const float *wts = (const float *)(ids + nb * k);
        moe_tokens(ids, n, k, E, *gpu_scratch);
        float *xg = ws->at<float>(gx), *g = ws->at<float>(gg), *a = ws->at<float>(ga), *ye = ws->at<float>(gy);
        sm->zero(YG.f(n), n * d);
        uint64_t active = 0, bytes = 0;
        for (int32_t e = 0; e < E; ++e) {
          const offload_expert &oe = ol->experts[(size_t)e];
          const std::vector<int32_t> &toks = gpu_scratch->tokens[(size_t)e];
          if (oe.n_hot == 0 || toks.empty()) continue;
          const int64_t m = (int64_t)toks.size();
          const float *x = XG.f(n);
          if (m != n) {
            for (int64_t j = 0; j < m; ++j) sm->copy(xg + j * d, XG.f(n) + toks[(size_t)j] * d, (size_t)d * sizeof(float));
            x = xg;
          }
          if (oe.down) {  // a whole row-major expert
            sm->matmul(oe.gate, x, m, g);
            sm->matmul(oe.up, x, m, a);
            sm->activate(form, g, a, m * ff);
            sm->matmul(oe.down, a, m, ye);
            bytes += oe.gate.bytes() + oe.up.bytes() + oe.down.bytes();
          } else {  // its hot rows, every one (the hybrid runs dense FFNs)
            sm->hot_gate_up(oe.gate, oe.up, nullptr, nullptr, form, x, m, nullptr, (int32_t)ff, oe.orig, 0.0f, a);
            sm->hot_down(oe.down_t, a, m, ws->at<float>(sc), ye);
            bytes += oe.gate.bytes() + oe.up.bytes() + oe.down_t.bytes();
          }
          for (int64_t j = 0; j < m; ++j) {
            const int64_t t = toks[(size_t)j];
            sm->add_scaled(YG.f(n) + t * d, ye + j * d, moe_weight(ids, wts, k, t, e), d);
          }
          active += (uint64_t)(m * oe.n_hot);
        }
        self.active = active;
        self.read_bytes = bytes;
      });
      (void)n;
      b_.wrote(yg, place::gpu);
      parts.push_back({yg, place::gpu});
    }
    const size_t n_ffn = parts.size();
    if (attn_out) parts.push_back({*attn_out, b_.current(*attn_out, place::gpu) ? place::gpu : place::cpu});
    merge(il, x, parts, n_ffn, next);
  }

  // Adds the parts to x where it costs fewest transfers: x to where the merge runs, the parts there, and x on to
  // its next consumer (ties: the next consumer's side). So consecutive GPU layers merge on the device, and a
  // layer whose next consumer is the CPU brings back the GPU's half.
  // The first n_ffn parts are the FFN's halves; with a post-FFN norm (Gemma) they are summed, with the bias, into
  // the first and normed before x takes them.
  void merge(int32_t il, value &x, const std::vector<std::pair<value, place>> &parts, size_t n_ffn, place next) {
    const layer &L = m_.layers()[(size_t)il];
    auto cost = [&](place p) {
      int c = b_.current(x, p) ? 0 : 1;
      for (const auto &[v, where] : parts) c += b_.current(v, p) ? 0 : 1;
      return c + (p == next ? 0 : 1);
    };
    const offload_layer *ol = gpu_layer(il);
    // the down bias and a post-FFN norm on the device need their weights there (uploaded with the layer's GPU part)
    const bool can_gpu = stream_ != nullptr && (L.bdown.empty() || (ol && ol->bdown)) &&
                         (!L.ffn_post_norm || n_ffn == 0 || (ol && ol->ffn_post_norm));
    const place p = can_gpu && (cost(place::gpu) < cost(place::cpu) || (cost(place::gpu) == cost(place::cpu) && next == place::gpu))
                        ? place::gpu
                        : place::cpu;
    std::vector<const value *> need = {&x};
    for (const auto &pr : parts) need.push_back(&pr.first);
    for (const value *v : need) b_.need(*v, p);
    const loc X = b_.at(x, p);
    std::vector<loc> P;
    std::vector<int32_t> reads = {X.res};
    for (const auto &pr : parts) {
      P.push_back(b_.at(pr.first, p));
      reads.push_back(P.back().res);
    }
    const step_state *st = st_;
    const int64_t d = hp_.n_embd;
    const float *bias = p == place::gpu ? (ol ? ol->bdown : nullptr) : (L.bdown.empty() ? nullptr : L.bdown.data());
    device_stream *sm = stream_;
    const block_spec spec = spec_;
    const bool post = bool(L.ffn_post_norm) && n_ffn > 0;
    const dev_norm dpost = ol ? ol->ffn_post_norm : dev_norm{};
    std::vector<int32_t> writes = {X.res};
    if (post) writes.push_back(P[0].res);
    node &n = add(fmt::format("blk.{}.ffn_merge", il), node_kind::merge, p, il, reads, writes, [=, &L] {
      const int64_t n = st->n;
      const bool gpu = p == place::gpu;
      auto add_to = [&](float *y, const float *v) { gpu ? sm->add(y, v, n * d) : hearth::add(y, v, n * d); };
      auto add_bias_to = [&](float *y) {
        if (bias) gpu ? sm->add_bias(y, bias, n, d) : add_bias(y, bias, n, d);
      };
      size_t first = 0;
      if (post) {  // x += norm(sum of the halves + bias)
        float *y = P[0].f(n);
        for (size_t i = 1; i < n_ffn; ++i) add_to(y, P[i].f(n));
        add_bias_to(y);
        if (gpu) sm->norm(spec.norm, y, dpost.w, dpost.b, n, d, spec.norm_eps, y);
        else norm(spec.norm, L.ffn_post_norm, spec.norm_eps, y, n, d, y);
        add_to(X.f(n), y);
        first = n_ffn;
      }
      for (size_t i = first; i < P.size(); ++i) add_to(X.f(n), P[i].f(n));
      if (!post) add_bias_to(X.f(n));
    });
    n.n_neurons = spec_.moe ? 0 : hp_.n_ff;  // a mixture's node answers for its chosen experts' neurons
    n.weight_bytes = L.bdown.size() * sizeof(float) + L.ffn_post_norm.bytes();
    b_.wrote(x, p);
  }

  // The GPU's own neuron counts of every layer whose predictor ran there, in one copy for the statistics.
  void download_hot_counts() {
    const loc H = b_.at(hot_counts_, place::gpu), HH = b_.at(hot_counts_, place::cpu);
    ws_->stage(HH.res);
    const workspace *ws = ws_;
    device_stream *sm = stream_;
    const size_t bytes = (size_t)hp_.n_layer * (size_t)b_.in().n_batch * sizeof(int32_t);
    add("download hot counts", node_kind::transfer, place::gpu, -1, {H.res}, {HH.res},
        [=] { sm->download(ws->at<void>(HH.res), ws->at<void>(H.res), bytes); });
    b_.wrote(hot_counts_, place::cpu);
  }

  // ---- output ----------------------------------------------------------------------------------------------
  void output(value &x) {
    const place p = output_place();
    b_.need(x, p);
    const int64_t d = hp_.n_embd, nv = hp_.n_vocab;
    value xn = b_.make("output_norm", d);
    const loc X = b_.at(x, p), XN = b_.at(xn, p);
    const step_state *st = st_;
    const workspace *ws = ws_;
    const block_spec spec = spec_;
    const matrix *W = &m_.output();
    const norm_weights *nw = &m_.output_norm();
    if (p == place::cpu) {
      const int32_t qs = qs_;
      // Only the rows whose logits are wanted go through the output matrix.
      add("output", node_kind::output, p, -1, {X.res}, {XN.res, qs}, [=] {
        const int64_t rows = st->logit_rows();
        if (rows == 0) return;
        const int64_t first = st->n - rows;
        norm(spec.norm, *nw, spec.norm_eps, X.f(st->n) + first * d, rows, d, XN.f(st->n));
        matmul(*W, XN.f(st->n), rows, st->logits, ws->q8_at(qs));
        if (spec.final_softcap > 0) softcap(st->logits, rows * nv, spec.final_softcap);
      }).weight_bytes = W->bytes() + nw->bytes();
      return;
    }
    device_stream *sm = stream_;
    const offload *off = off_;
    const int32_t lg_dev = ws_->device("logits@gpu", (size_t)b_.in().n_batch * (size_t)nv * sizeof(float));
    const int32_t lg_host = ws_->host("logits", (size_t)b_.in().n_batch * (size_t)nv * sizeof(float));
    ws_->stage(lg_host);
    add("output", node_kind::output, p, -1, {X.res}, {XN.res, lg_dev}, [=] {
      const int64_t rows = st->logit_rows();
      if (rows == 0) return;
      const int64_t first = st->n - rows;
      sm->norm(spec.norm, X.f(st->n) + first * d, off->output_norm().w, off->output_norm().b, rows, d, spec.norm_eps, XN.f(st->n));
      sm->matmul(off->output(), XN.f(st->n), rows, ws->at<float>(lg_dev));
    }).weight_bytes = W->bytes() + nw->bytes();
    add("download logits", node_kind::transfer, place::gpu, -1, {lg_dev}, {lg_host}, [=] {
      const int64_t rows = st->logit_rows();
      if (rows) sm->download(ws->at<void>(lg_host), ws->at<void>(lg_dev), (size_t)(rows * nv) * sizeof(float));
    });
    add("logits", node_kind::output, place::cpu, -1, {lg_host}, {}, [=] {
      const int64_t rows = st->logit_rows();
      if (rows) std::memcpy(st->logits, ws->at<float>(lg_host), (size_t)(rows * nv) * sizeof(float));
      if (rows && spec.final_softcap > 0) softcap(st->logits, rows * nv, spec.final_softcap);
    });
  }

  // 0, 1, ..., n_ff - 1: the rows of a dense neuron-major down projection (shared by the layers' nodes)
  std::shared_ptr<const std::vector<int32_t>> all_rows() {
    if (!all_rows_) {
      auto v = std::make_shared<std::vector<int32_t>>((size_t)hp_.n_ff);
      for (int32_t i = 0; i < hp_.n_ff; ++i) (*v)[(size_t)i] = i;
      all_rows_ = v;
    }
    return all_rows_;
  }

  graph_builder &b_;
  const model &m_;
  const hparams &hp_;
  const block_spec &spec_;
  const step_state *st_;
  workspace *ws_;
  const offload *off_ = nullptr;
  device_stream *stream_ = nullptr;
  int32_t qs_ = -1, qs_pred_ = -1, sparse_ = -1, masks_ = -1, hot_down_scratch_ = -1;
  std::vector<int32_t> moe_dev_;  // the GPU experts' scratch (mixture-of-experts layers with a GPU part)
  int32_t early_router_ = -1;     // the layer's routing buffer when the router read the layer's input
  value cold_n_, hot_n_, lists_, hot_counts_;
  bool any_gpu_predictor_ = false;
  std::shared_ptr<const std::vector<int32_t>> all_rows_;
};

}  // namespace

graph build_graph(const build_inputs &in) {
  graph_builder b(in);
  block_builder(b).build();
  return b.finish();
}

}  // namespace hearth
