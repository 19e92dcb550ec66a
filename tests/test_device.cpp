// Every device operator against float64 loops, over random sizes with tails, every weight type and activation
// kind: `hearth_test_device emulated` (runs everywhere) or `hearth_test_device cuda` (exits 77, "skipped",
// without a CUDA device). The emulated device computes with the CPU kernels, so for it this checks the stream
// semantics and the operators' contracts; for CUDA it is the kernels' reference test.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "device.h"
#include "error.h"
#include "gpu.h"
#include "dtype.h"

using namespace hearth;

namespace {

int failures = 0, checks = 0;
void expect(bool ok, const std::string &what) {
  ++checks;
  if (!ok && ++failures <= 20) std::printf("FAIL %s\n", what.c_str());
}
void near(double got, double want, double tol, const std::string &what) {
  ++checks;
  if (!(std::fabs(got - want) <= tol) && ++failures <= 20) std::printf("FAIL %s: got %.7g, want %.7g (tol %.3g)\n", what.c_str(), got, want, tol);
}

std::mt19937 rng(7);
float uni() { return std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng); }
int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); }

struct harness {
  device &dev;
  std::unique_ptr<device_stream> st = dev.make_stream();
  std::vector<device_buffer> keep;

  template <class T>
  T *put(const std::vector<T> &v) {
    keep.emplace_back(dev, std::max<size_t>(v.size() * sizeof(T), 16));
    if (!v.empty()) dev.upload_now(keep.back().get(), v.data(), v.size() * sizeof(T));
    return keep.back().template get<T>();
  }
  template <class T>
  T *room(size_t n) { return put(std::vector<T>(n)); }
  template <class T>
  std::vector<T> get(const T *p, size_t n) {
    pinned_buffer pin(dev, std::max<size_t>(n * sizeof(T), 16));
    st->download(pin.get(), p, n * sizeof(T));
    st->sync();
    std::vector<T> v(n);
    std::memcpy(v.data(), pin.get(), n * sizeof(T));
    return v;
  }
};

// A random weight matrix of a type, its device copy and its dequantized values (the oracle's view).
struct weights {
  dev_matrix m;
  std::vector<float> deq;  // rows x cols
};
weights make_weights(harness &h, dtype t, int64_t rows, int64_t cols) {
  weights w;
  const size_t rs = row_bytes(t, cols);
  std::vector<uint8_t> raw(rs * (size_t)rows);
  std::vector<float> src((size_t)cols);
  w.deq.resize((size_t)(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float &v : src) v = uni();
    quantize_row(t, src.data(), raw.data() + r * rs, cols);
    dequantize_row(t, raw.data() + r * rs, w.deq.data() + r * cols, cols);
  }
  w.m.data = h.put(raw), w.m.type = t, w.m.rows = rows, w.m.cols = cols, w.m.row_size = rs;
  return w;
}

bool quantized(dtype t) { return traits(t).vec_dot_type != dtype::f32; }
// A dot product's tolerance: float rounding, plus Q8_0 rounding of the activations for quantized weights (the CPU
// kernels quantize x; the CUDA ones do not).
double dot_tol(dtype t, const float *w, const float *x, int64_t n) {
  double mag = 0, wsum = 0, xmax = 0;
  for (int64_t i = 0; i < n; ++i) mag += std::fabs((double)w[i] * x[i]), wsum += std::fabs(w[i]), xmax = std::max(xmax, (double)std::fabs(x[i]));
  return 1e-5 * mag + 1e-6 + (quantized(t) ? wsum * xmax / 127.0 : 0.0);
}
// The FFN forms the operators take, and their float64 definitions.
const ffn_form k_forms[] = {{activation::silu, true, false},    {activation::relu, true, false}, {activation::relu, true, true},
                            {activation::relu, false, false},   {activation::gelu, true, false}, {activation::gelu, false, false},
                            {activation::relu_sq, true, false}, {activation::relu_sq, false, false}};
constexpr int k_n_forms = 8;
double act1(activation a, double v) {
  switch (a) {
    case activation::silu: return v / (1.0 + std::exp(-v));
    case activation::gelu: return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / 3.141592653589793) * (v + 0.044715 * v * v * v)));
    case activation::relu: return v > 0 ? v : 0.0;
    case activation::relu_sq: return v > 0 ? v * v : 0.0;
  }
  return 0;
}
double act64(const ffn_form &f, double g, double u) {
  if (!f.gated) return act1(f.act, u);
  return act1(f.act, g) * (f.act_on_up ? act1(f.act, u) : u);
}

// Every type the CPU computes (the CUDA build reads each of them too: traits().cuda).
const dtype k_types[] = {dtype::f32,  dtype::f16,  dtype::bf16, dtype::q8_0, dtype::q4_0,   dtype::q4_1,  dtype::q5_0, dtype::q5_1,
                         dtype::q2_k, dtype::q3_k, dtype::q4_k, dtype::q5_k, dtype::q6_k, dtype::iq4_nl, dtype::iq4_xs};
constexpr int k_n_types = (int)(sizeof k_types / sizeof k_types[0]);
// Row lengths: any for float types, whole blocks (up to `blocks` of 32 values, or a few super-blocks) otherwise.
int64_t pick_cols(dtype t, int64_t blocks, int64_t floats) {
  const int64_t be = traits(t).block_elems;
  return be == 1 ? pick(1, floats) : be * pick(1, be == 32 ? blocks : std::max<int64_t>(1, blocks / 6));
}

void test_matmul(harness &h) {
  for (int trial = 0; trial < 3 * k_n_types; ++trial) {
    const dtype t = k_types[trial % k_n_types];
    const int64_t cols = pick_cols(t, 24, 700), rows = pick(1, 300), n = pick(1, 9);
    weights w = make_weights(h, t, rows, cols);
    std::vector<float> x((size_t)(n * cols));
    for (float &v : x) v = uni();
    float *y = h.room<float>((size_t)(n * rows));
    h.st->matmul(w.m, h.put(x), n, y);
    const auto got = h.get(y, (size_t)(n * rows));
    for (int64_t tk = 0; tk < n; ++tk)
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0;
        for (int64_t i = 0; i < cols; ++i) want += (double)w.deq[(size_t)(r * cols + i)] * x[(size_t)(tk * cols + i)];
        near(got[(size_t)(tk * rows + r)], want, dot_tol(t, &w.deq[(size_t)(r * cols)], &x[(size_t)(tk * cols)], cols),
             std::string("matmul ") + type_name(t));
      }
  }
}

void test_norm_rope_elementwise(harness &h) {
  for (int trial = 0; trial < 16; ++trial) {
    const int64_t n = pick(1, 5), heads = pick(1, 6), hd = 2 * pick(1, 40), width = heads * hd;
    const int32_t n_rot = (int32_t)(2 * pick(1, hd / 2)), pos0 = (int32_t)pick(0, 3000);
    std::vector<float> x((size_t)(n * width)), w((size_t)width), b((size_t)width), y2((size_t)(n * width)), wh((size_t)hd);
    for (float &v : x) v = uni();
    for (float &v : w) v = uni();
    for (float &v : b) v = uni();
    for (float &v : y2) v = uni();
    for (float &v : wh) v = uni();
    float *dx = h.put(x), *dy = h.room<float>(x.size());
    // RMS norm; LayerNorm with and without a bias
    for (int kind = 0; kind < 3; ++kind) {
      const bool layer = kind > 0, bias = kind == 2;
      h.st->norm(layer ? norm_kind::layer : norm_kind::rms, dx, h.put(w), bias ? h.put(b) : nullptr, n, width, 1e-5f, dy);
      const auto got = h.get(dy, x.size());
      for (int64_t t = 0; t < n; ++t) {
        const float *xt = &x[(size_t)(t * width)];
        double mean = 0, ss = 0;
        if (layer)
          for (int64_t i = 0; i < width; ++i) mean += xt[i] / (double)width;
        for (int64_t i = 0; i < width; ++i) ss += (xt[i] - mean) * (xt[i] - mean);
        const double s = 1.0 / std::sqrt(ss / width + 1e-5);
        for (int64_t i = 0; i < width; ++i)
          near(got[(size_t)(t * width + i)], (xt[i] - mean) * s * w[(size_t)i] + (bias ? b[(size_t)i] : 0.0), 2e-5,
               layer ? "layernorm" : "rmsnorm");
      }
    }
    // per-head RMS norm (Q/K norms), in place
    float *dh = h.put(x);
    h.st->head_norm(dh, h.put(wh), n, (int32_t)heads, (int32_t)hd, 1e-6f);
    auto got = h.get(dh, x.size());
    for (int64_t r = 0; r < n * heads; ++r) {
      const float *v = &x[(size_t)(r * hd)];
      double ss = 0;
      for (int64_t i = 0; i < hd; ++i) ss += (double)v[i] * v[i];
      const double s = 1.0 / std::sqrt(ss / hd + 1e-6);
      for (int64_t i = 0; i < hd; ++i) near(got[(size_t)(r * hd + i)], v[i] * s * wh[(size_t)i], 2e-5, "head_norm");
    }
    // bias
    float *db = h.put(x);
    h.st->add_bias(db, h.put(b), n, width);
    got = h.get(db, x.size());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < width; ++i) near(got[(size_t)(t * width + i)], (double)x[(size_t)(t * width + i)] + b[(size_t)i], 1e-6, "add_bias");
    // RoPE: normal pairs (2i, 2i+1), NeoX pairs (i, i + n_rot/2); plain, then with per-pair factors, linear
    // interpolation and a magnitude (what YaRN and long RoPE fold into the spec)
    for (int variant = 0; variant < 4; ++variant) {
      const rope_kind kind = variant % 2 ? rope_kind::neox : rope_kind::normal;
      const bool scaled = variant >= 2;
      rope_scaling rsc;
      rsc.kind = kind, rsc.n_rot = n_rot, rsc.base = 10000.0;
      std::vector<double> fac((size_t)(n_rot / 2), 1.0);
      if (scaled) {
        rsc.freq_scale = 0.25, rsc.attn_factor = 1.2;
        for (double &f : fac) f = 1.0 + 3.0 * (uni() + 1.0);
        rsc.factors.assign(fac.begin(), fac.end());
        for (size_t i = 0; i < fac.size(); ++i) fac[i] = (double)rsc.factors[i];  // the float values the spec reads
      }
      const rope_spec spec = make_rope(rsc);
      float *dr = h.put(x);
      h.st->rope(dr, n, (int32_t)heads, (int32_t)hd, spec, pos0);
      got = h.get(dr, x.size());
      for (int64_t t = 0; t < n; ++t)
        for (int64_t hh = 0; hh < heads; ++hh) {
          const float *v = &x[(size_t)((t * heads + hh) * hd)];
          std::vector<double> want(v, v + hd);
          for (int64_t p = 0; p < n_rot / 2; ++p) {
            const int64_t i = kind == rope_kind::normal ? 2 * p : p, j = kind == rope_kind::normal ? 2 * p + 1 : p + n_rot / 2;
            const double th = (double)(pos0 + t) * std::pow(10000.0, -(double)(2 * p) / n_rot) / fac[(size_t)p] * (scaled ? 0.25 : 1.0);
            const double m = scaled ? 1.2 : 1.0;
            want[(size_t)i] = m * (v[i] * std::cos(th) - v[j] * std::sin(th));
            want[(size_t)j] = m * (v[i] * std::sin(th) + v[j] * std::cos(th));
          }
          for (int64_t i = 0; i < hd; ++i)
            near(got[(size_t)((t * heads + hh) * hd + i)], want[(size_t)i], 1e-5, kind == rope_kind::neox ? "rope neox" : "rope");
        }
    }
    float *da = h.put(x);
    h.st->add(da, h.put(y2), (int64_t)x.size());
    got = h.get(da, x.size());
    for (size_t i = 0; i < x.size(); ++i) near(got[i], (double)x[i] + y2[i], 1e-6, "add");
    for (float w : {0.375f, -2.5f}) {  // an expert's weight
      float *ds = h.put(x);
      h.st->add_scaled(ds, h.put(y2), w, (int64_t)x.size());
      got = h.get(ds, x.size());
      for (size_t i = 0; i < x.size(); ++i) near(got[i], (double)x[i] + (double)w * y2[i], 1e-6 * (1 + std::fabs(x[i]) + std::fabs(y2[i])), "add_scaled");
    }
    float *dz = h.put(x);
    h.st->zero(dz, (int64_t)x.size() - 1);  // all but the last
    got = h.get(dz, x.size());
    for (size_t i = 0; i + 1 < x.size(); ++i) near(got[i], 0.0, 0, "zero");
    near(got.back(), x.back(), 0, "zero (past the count)");
    float *dr = h.put(x);
    h.st->relu(dr, (int64_t)x.size());
    got = h.get(dr, x.size());
    for (size_t i = 0; i < x.size(); ++i) near(got[i], std::max(0.0f, x[i]), 0, "relu");
    for (const ffn_form &f : k_forms) {
      float *du = h.put(x);
      h.st->activate(f, f.gated ? h.put(y2) : nullptr, du, (int64_t)x.size());
      got = h.get(du, x.size());
      for (size_t i = 0; i < x.size(); ++i) near(got[i], act64(f, y2[i], x[i]), 2e-6 * (1 + std::fabs(x[i])), "activate " + f.name());
    }
  }
}

void test_attention(harness &h) {
  for (int trial = 0; trial < 12; ++trial) {
    const int32_t n_head_kv = (int32_t)pick(1, 3), n_head = n_head_kv * (int32_t)pick(1, 3), hd = (int32_t)(2 * pick(1, 48));
    const int64_t n = pick(1, 6);
    const int32_t pos0 = (int32_t)(trial == 0 ? 2500 : pick(0, 300));  // one past a 2048-position chunk
    const int64_t d = (int64_t)n_head * hd, dkv = (int64_t)n_head_kv * hd, n_kv = pos0 + n;
    std::vector<float> q((size_t)(n * d)), kc((size_t)(n_kv * dkv)), vc((size_t)(n_kv * dkv));
    for (float &v : q) v = 2 * uni();
    for (float &v : kc) v = uni();
    for (float &v : vc) v = uni();
    // the caches as the device keeps them (F16 on CUDA): stored through store_kv in two parts, and the oracle
    // reads the same rounded values
    uint8_t *dk = h.room<uint8_t>(kc.size() * h.dev.kv_bytes()), *dv = h.room<uint8_t>(vc.size() * h.dev.kv_bytes());
    const int32_t split = (int32_t)(n_kv / 2);
    std::vector<float> k0(kc.begin(), kc.begin() + split * dkv), k1(kc.begin() + split * dkv, kc.end());
    std::vector<float> v0(vc.begin(), vc.begin() + split * dkv), v1(vc.begin() + split * dkv, vc.end());
    h.st->store_kv(dk, h.put(k0), split, 0, dkv);
    h.st->store_kv(dk, h.put(k1), n_kv - split, split, dkv);
    h.st->store_kv(dv, h.put(v0), split, 0, dkv);
    h.st->store_kv(dv, h.put(v1), n_kv - split, split, dkv);
    if (h.dev.kv_bytes() == 2)
      for (auto *c : {&kc, &vc})
        for (float &v : *c) v = fp16_to_f32(f32_to_fp16(v));
    // every third trial: Gemma's score scale and soft cap and a sliding window (which may cut into the prompt)
    attention_spec as{n_head, n_head_kv, hd, 1.0f / std::sqrt((float)hd), 0.0f, 0};
    if (trial % 3 == 1) as.scale = 0.3f / std::sqrt((float)hd), as.softcap = 1.5f, as.window = (int32_t)pick(1, 8);
    float *out = h.room<float>(q.size());
    h.st->attend(h.put(q), dk, dv, n, pos0, as, out);
    const auto got = h.get(out, q.size());
    for (int64_t t = 0; t < n; ++t)
      for (int32_t hh = 0; hh < n_head; ++hh) {
        const int64_t kvh = hh / (n_head / n_head_kv), m = pos0 + t + 1;
        std::vector<double> s((size_t)m, 0.0);
        double mx = -1e300, sum = 0;
        auto seen = [&](int64_t p) { return as.window == 0 || p > m - 1 - as.window; };
        for (int64_t p = 0; p < m; ++p) {
          if (!seen(p)) continue;
          double dot = 0;
          for (int32_t i = 0; i < hd; ++i) dot += (double)q[(size_t)(t * d + hh * hd + i)] * kc[(size_t)(p * dkv + kvh * hd + i)];
          double sc = dot * as.scale;
          if (as.softcap > 0) sc = as.softcap * std::tanh(sc / as.softcap);
          s[(size_t)p] = sc;
          mx = std::max(mx, sc);
        }
        for (int64_t p = 0; p < m; ++p) sum += s[(size_t)p] = seen(p) ? std::exp(s[(size_t)p] - mx) : 0.0;
        for (int32_t i = 0; i < hd; ++i) {
          double o = 0;
          for (int64_t p = 0; p < m; ++p) o += s[(size_t)p] / sum * vc[(size_t)(p * dkv + kvh * hd + i)];
          near(got[(size_t)(t * d + hh * hd + i)], o, 2e-5, "attend");
        }
      }
  }
}

void test_hot_ffn(harness &h) {
  for (int trial = 0; trial < 4 * k_n_types; ++trial) {
    const dtype t = k_types[trial % k_n_types];
    const ffn_form form = k_forms[(trial / k_n_types) % k_n_forms];
    const bool biased = trial % 3 == 1;
    const int64_t cols = pick_cols(t, 12, 400), K = pick(1, 200), n = pick(1, 6);
    const int32_t n_ff = (int32_t)(K + pick(0, 100));
    weights g = make_weights(h, t, K, cols), u = make_weights(h, t, K, cols), dn = make_weights(h, t, K, cols);
    std::vector<int32_t> ids((size_t)n_ff);
    for (int32_t i = 0; i < n_ff; ++i) ids[(size_t)i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<int32_t> orig(ids.begin(), ids.begin() + K), row_of((size_t)n_ff, -1);
    for (int64_t j = 0; j < K; ++j) row_of[(size_t)orig[(size_t)j]] = (int32_t)j;
    std::vector<float> xn((size_t)(n * cols)), logits((size_t)(n * n_ff));
    for (float &v : xn) v = uni();
    for (float &v : logits) v = uni();
    std::vector<float> bg((size_t)K), bu((size_t)K);
    for (float &v : bg) v = uni();
    for (float &v : bu) v = uni();
    const bool dense = trial % 7 == 0;
    const float thr = 0.4f;  // about 30% active
    float *a = h.room<float>((size_t)(n * K));
    h.st->hot_gate_up(form.gated ? g.m : dev_matrix{}, u.m, biased && form.gated ? h.put(bg) : nullptr, biased ? h.put(bu) : nullptr,
                      form, h.put(xn), n, dense ? nullptr : h.put(logits), n_ff, h.put(orig), thr, a);
    const auto ga = h.get(a, (size_t)(n * K));
    for (int64_t tk = 0; tk < n; ++tk)
      for (int64_t j = 0; j < K; ++j) {
        const bool on = dense || logits[(size_t)(tk * n_ff + orig[(size_t)j])] >= thr;
        double gv = 0, uv = 0;
        for (int64_t i = 0; i < cols; ++i) {
          gv += (double)g.deq[(size_t)(j * cols + i)] * xn[(size_t)(tk * cols + i)];
          uv += (double)u.deq[(size_t)(j * cols + i)] * xn[(size_t)(tk * cols + i)];
        }
        if (biased) gv += form.gated ? bg[(size_t)j] : 0.0, uv += bu[(size_t)j];
        const double tg = dot_tol(t, &g.deq[(size_t)(j * cols)], &xn[(size_t)(tk * cols)], cols);
        const double tu = dot_tol(t, &u.deq[(size_t)(j * cols)], &xn[(size_t)(tk * cols)], cols);
        const double want = on ? act64(form, form.gated ? gv : 0.0, uv) : 0.0;
        // an activation near a ReLU kink may fall either side within the dot's tolerance
        const double tol = 3 * (std::fabs(gv) + std::fabs(uv) + 1) * (tg + tu) + 1e-6;
        near(ga[(size_t)(tk * K + j)], want, tol, "hot_gate_up " + type_name(t) + " " + form.name());
        if (!on) expect(ga[(size_t)(tk * K + j)] == 0.0f, "hot_gate_up inactive row is exactly 0");
      }
    // the down axpy with the coefficients it is given (some exactly zero)
    std::vector<float> coef((size_t)(n * K));
    for (float &v : coef) v = rng() % 3 == 0 ? 0.0f : uni();
    // the scratch a session allocates for batches of up to n tokens (the largest need is not always n's own)
    float *y = h.room<float>((size_t)(n * cols)), *scratch = h.room<float>(hot_down_scratch_max(n, cols));
    h.st->hot_down(dn.m, h.put(coef), n, scratch, y);
    const auto gy = h.get(y, (size_t)(n * cols));
    for (int64_t tk = 0; tk < n; ++tk)
      for (int64_t c = 0; c < cols; ++c) {
        double want = 0, mag = 0;
        for (int64_t j = 0; j < K; ++j) {
          const double p = (double)coef[(size_t)(tk * K + j)] * dn.deq[(size_t)(j * cols + c)];
          want += p, mag += std::fabs(p);
        }
        near(gy[(size_t)(tk * cols + c)], want, 1e-5 * mag + 1e-6, std::string("hot_down ") + type_name(t));
      }
    // the CPU's index lists and the GPU's active count
    int32_t *lists = h.room<int32_t>((size_t)(n * n_ff)), *counts = h.room<int32_t>((size_t)(2 * n));
    h.st->cold_lists(h.put(logits), n, n_ff, thr, h.put(row_of), lists, counts);
    const auto gl = h.get(lists, (size_t)(n * n_ff));
    const auto gc = h.get(counts, (size_t)(2 * n));
    for (int64_t tk = 0; tk < n; ++tk) {
      std::vector<int32_t> want;
      int32_t hot = 0;
      for (int32_t i = 0; i < n_ff; ++i)
        if (logits[(size_t)(tk * n_ff + i)] >= thr) {
          if (row_of[(size_t)i] < 0) want.push_back(i);
          else ++hot;
        }
      expect(gc[(size_t)tk] == (int32_t)want.size(), "cold_lists count");
      expect(gc[(size_t)(n + tk)] == hot, "cold_lists hot count");
      expect(std::equal(want.begin(), want.end(), gl.begin() + tk * n_ff), "cold_lists ascending ids");
    }
  }
}

void test_ordering(harness &h) {
  // Events order a host wait after exactly the work recorded before them; copies keep stream order.
  const size_t n = 1 << 16;
  std::vector<float> ones(n, 1.0f);
  float *x = h.put(std::vector<float>(n, 0.0f)), *one = h.put(ones);
  pinned_buffer pin(h.dev, n * sizeof(float));
  for (int i = 0; i < 20; ++i) h.st->add(x, one, (int64_t)n);
  h.st->download(pin.get(), x, n * sizeof(float));
  auto ev = h.st->record();
  h.st->wait(*ev);
  bool all = true;
  for (size_t i = 0; i < n; ++i) all = all && pin.get<float>()[i] == 20.0f;
  expect(all, "an event waits for everything enqueued before it");
  expect(h.dev.copy_bandwidth(1 << 24) > 0, "copy bandwidth measured");

  // A failed operator (a weight type with no kernel) is reported by the next wait, once, as a hearth::error;
  // the stream then works again.
  dev_matrix bad;
  bad.data = one, bad.type = dtype::mxfp4, bad.rows = 4, bad.cols = 32, bad.row_size = 17;
  h.st->matmul(bad, one, 1, x);
  bool thrown = false;
  try {
    h.st->sync();
  } catch (const hearth::error &e) {
    thrown = e.status() == HEARTH_ERR_INTERNAL;
  }
  expect(thrown, "a failed operator is reported by the next wait");
  h.st->add(x, one, (int64_t)n);
  bool again = true;
  try {
    h.st->sync();
  } catch (...) {
    again = false;
  }
  expect(again, "the error is reported once and the stream goes on");
}

// The device reads exactly the weight types its traits row says (dtype_traits::cuda for CUDA, the computable
// types for the emulated device), and a scratch buffer sized for a batch of n_batch covers every smaller batch.
void test_capabilities(harness &h, bool cuda) {
  for (uint32_t id = 0; id < k_dtype_slots; ++id) {
    const dtype t = (dtype)id;
    expect(h.dev.supports(t) == (cuda ? traits(t).cuda : traits(t).computable), "supports(" + type_name(t) + ")");
  }
  for (int64_t nb = 1; nb <= 300; ++nb)
    for (int64_t n = 1; n <= nb; n += n < 8 ? 1 : 37)
      expect(hot_down_scratch_max(nb, 64) >= (size_t)(hot_down_parts(n) * n * 64), "hot_down scratch for n_batch " + std::to_string(nb));
}

}  // namespace

int main(int argc, char **argv) {
  const std::string which = argc > 1 ? argv[1] : "emulated";
  std::unique_ptr<device> dev;
  if (which == "cuda") {
    std::string why;
    dev = make_cuda_device(&why);
    if (!dev) {
      std::printf("no CUDA device (%s): skipped\n", why.c_str());
      return 77;
    }
  } else {
    dev = make_emulated_device(size_t(1) << 30, 0);
  }
  std::printf("device: %s\n", dev->name().c_str());
  {
    harness h{*dev};
    test_matmul(h);
    test_norm_rope_elementwise(h);
    test_attention(h);
    test_hot_ffn(h);
    test_ordering(h);
    test_capabilities(h, which == "cuda");
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
