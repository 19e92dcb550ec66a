#include "reference.h"

#include <cmath>
#include <memory>

#include "gguf.h"
#include "dtype.h"

namespace hearth::test {

using mat = std::vector<std::vector<double>>;  // [rows][cols]

struct reference_model {
  int n_embd, n_layer, n_ff, n_head, n_head_kv, n_rot, n_vocab;
  double eps, base;
  std::string ffn;
  mat embd, out;
  std::vector<double> out_norm;
  struct layer {
    std::vector<double> attn_norm, ffn_norm;
    mat q, k, v, o, gate, up, down;
  };
  std::vector<layer> layers;
};

namespace {

mat load(const gguf_file &f, const std::string &name) {
  const gguf_tensor *t = f.tensor(name);
  if (!t) return {};
  mat m((size_t)t->ne[1], std::vector<double>((size_t)t->ne[0]));
  std::vector<float> row((size_t)t->ne[0]);
  const size_t rb = row_bytes(t->type, t->ne[0]);
  for (int64_t r = 0; r < t->ne[1]; ++r) {
    dequantize_row(t->type, t->data + r * rb, row.data(), t->ne[0]);
    for (int64_t c = 0; c < t->ne[0]; ++c) m[(size_t)r][(size_t)c] = row[(size_t)c];
  }
  return m;
}

std::vector<double> matvec(const mat &w, const std::vector<double> &x) {
  std::vector<double> y(w.size());
  for (size_t r = 0; r < w.size(); ++r) {
    double s = 0;
    for (size_t c = 0; c < x.size(); ++c) s += w[r][c] * x[c];
    y[r] = s;
  }
  return y;
}

std::vector<double> rmsnorm(const std::vector<double> &x, const std::vector<double> &w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double s = 1.0 / std::sqrt(ss / (double)x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
  return y;
}

void rope(std::vector<double> &x, int n_heads, int hd, int n_rot, double base, int pos) {
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < n_rot; i += 2) {
      const double theta = pos * std::pow(base, -(double)i / n_rot);
      double &a = x[(size_t)(h * hd + i)], &b = x[(size_t)(h * hd + i + 1)];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(theta) - b0 * std::sin(theta);
      b = a0 * std::sin(theta) + b0 * std::cos(theta);
    }
}

}  // namespace

reference::reference(const std::string &path) : m_(new reference_model) {
  auto f = gguf_file::open(path);
  reference_model &m = *m_;
  m.n_embd = (int)f->get_uint("llama.embedding_length", 0);
  m.n_layer = (int)f->get_uint("llama.block_count", 0);
  m.n_ff = (int)f->get_uint("llama.feed_forward_length", 0);
  m.n_head = (int)f->get_uint("llama.attention.head_count", 0);
  m.n_head_kv = (int)f->get_uint("llama.attention.head_count_kv", (uint64_t)m.n_head);
  m.n_rot = (int)f->get_uint("llama.rope.dimension_count", (uint64_t)(m.n_embd / m.n_head));
  m.eps = f->get_float("llama.attention.layer_norm_rms_epsilon", 1e-5);
  m.base = f->get_float("llama.rope.freq_base", 10000);
  m.ffn = f->get_string("hearth.ffn_activation", "silu");
  m.embd = load(*f, "token_embd.weight");
  m.n_vocab = (int)m.embd.size();
  m.out = load(*f, "output.weight");
  if (m.out.empty()) m.out = m.embd;
  m.out_norm = load(*f, "output_norm.weight")[0];
  for (int l = 0; l < m.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    reference_model::layer L;
    L.attn_norm = load(*f, p + "attn_norm.weight")[0];
    L.ffn_norm = load(*f, p + "ffn_norm.weight")[0];
    L.q = load(*f, p + "attn_q.weight");
    L.k = load(*f, p + "attn_k.weight");
    L.v = load(*f, p + "attn_v.weight");
    L.o = load(*f, p + "attn_output.weight");
    L.gate = load(*f, p + "ffn_gate.weight");
    L.up = load(*f, p + "ffn_up.weight");
    L.down = load(*f, p + "ffn_down.weight");
    if (L.down.empty()) {  // neuron-major ffn_down_t: transpose back
      const mat dt = load(*f, p + "ffn_down_t.weight");
      L.down.assign(dt[0].size(), std::vector<double>(dt.size()));
      for (size_t i = 0; i < dt.size(); ++i)
        for (size_t j = 0; j < dt[0].size(); ++j) L.down[j][i] = dt[i][j];
    }
    m.layers.push_back(std::move(L));
  }
}

reference::~reference() { delete m_; }

namespace {
// The compiler's own half type (IEEE binary16, round to nearest even), independent of the library's conversion.
#if defined(__aarch64__)
double half(double x) { return (double)(__fp16)(float)x; }
#else
double half(double x) { return (double)(_Float16)(float)x; }
#endif

// A cache row as the cache keeps it: every value through half precision, or Q8_0 blocks of 32.
void round_row(std::vector<double> &x, reference::kv_rounding r) {
  if (r == reference::kv_rounding::f16) {
    for (double &v : x) v = half(v);
  } else if (r == reference::kv_rounding::q8_0) {
    for (size_t b = 0; b + 32 <= x.size(); b += 32) {
      double amax = 0;
      for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs((double)(float)x[i]));
      const float d = (float)amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
      for (size_t i = b; i < b + 32; ++i) x[i] = std::round((float)x[i] * id) * half(d);
    }
  }
}
}  // namespace

std::vector<std::vector<double>> reference::logits(const std::vector<int32_t> &tokens, kv_rounding kv) const {
  const reference_model &m = *m_;
  const int hd = m.n_embd / m.n_head, group = m.n_head / m.n_head_kv;
  std::vector<std::vector<std::vector<double>>> K((size_t)m.n_layer), V((size_t)m.n_layer);
  std::vector<std::vector<double>> result;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    std::vector<double> x = m.embd[(size_t)tokens[pos]];
    for (int l = 0; l < m.n_layer; ++l) {
      const auto &L = m.layers[(size_t)l];
      std::vector<double> xn = rmsnorm(x, L.attn_norm, m.eps);
      std::vector<double> q = matvec(L.q, xn), k = matvec(L.k, xn), v = matvec(L.v, xn);
      rope(q, m.n_head, hd, m.n_rot, m.base, (int)pos);
      rope(k, m.n_head_kv, hd, m.n_rot, m.base, (int)pos);
      round_row(k, kv);
      round_row(v, kv);
      K[(size_t)l].push_back(k);
      V[(size_t)l].push_back(v);
      std::vector<double> att((size_t)m.n_embd, 0.0);
      for (int h = 0; h < m.n_head; ++h) {
        const int kvh = h / group;
        std::vector<double> s(pos + 1);
        double mx = -1e300;
        for (size_t p = 0; p <= pos; ++p) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q[(size_t)(h * hd + i)] * K[(size_t)l][p][(size_t)(kvh * hd + i)];
          s[p] = d / std::sqrt((double)hd);
          mx = std::max(mx, s[p]);
        }
        double sum = 0;
        for (double &e : s) sum += e = std::exp(e - mx);
        for (size_t p = 0; p <= pos; ++p)
          for (int i = 0; i < hd; ++i) att[(size_t)(h * hd + i)] += s[p] / sum * V[(size_t)l][p][(size_t)(kvh * hd + i)];
      }
      const std::vector<double> o = matvec(L.o, att);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      xn = rmsnorm(x, L.ffn_norm, m.eps);
      std::vector<double> up = matvec(L.up, xn);
      std::vector<double> gate = L.gate.empty() ? std::vector<double>() : matvec(L.gate, xn);
      for (size_t i = 0; i < up.size(); ++i) {
        if (m.ffn == "silu") up[i] *= gate[i] / (1.0 + std::exp(-gate[i]));
        else if (m.ffn == "relu") up[i] *= std::max(gate[i], 0.0);
        else if (m.ffn == "drelu") up[i] = std::max(gate[i], 0.0) * std::max(up[i], 0.0);
        else up[i] = std::max(up[i], 0.0);
      }
      const std::vector<double> dn = matvec(L.down, up);
      for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
    }
    result.push_back(matvec(m.out, rmsnorm(x, m.out_norm, m.eps)));
  }
  return result;
}

double rel_error(const float *a, const std::vector<double> &b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::fabs((double)a[i] - b[i]));
    mag = std::max(mag, std::fabs(b[i]));
  }
  return err / mag;
}

}  // namespace hearth::test
