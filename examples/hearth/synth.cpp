#include "synth.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "vocab_trainer.h"
#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "names.h"
#include "splitmix.h"

namespace hearth {
namespace {

uint64_t mix(uint64_t x) { return splitmix64(x); }

uint64_t hash_name(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Row r of a tensor: uniform values in [center - scale, center + scale], from a generator seeded by (tensor, row)
// so the bytes do not depend on how rows are spread over threads.
void fill_rows(uint8_t *dst, dtype type, int64_t cols, int64_t rows, uint64_t seed, float center, float scale,
               const std::function<void(int64_t, float *)> &edit = nullptr) {
  const size_t rb = row_bytes(type, cols);
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, rows, 16), [&](const tbb::blocked_range<int64_t> &r) {
    std::vector<float> v((size_t)cols);
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      uint64_t s = mix(seed ^ mix((uint64_t)row));
      for (float &x : v) {
        s = mix(s);
        x = center + scale * ((float)(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
      }
      if (edit) edit(row, v.data());
      quantize_row(type, v.data(), dst + row * rb, cols);
    }
  });
}

}  // namespace

// ---- planted sparsity ------------------------------------------------------------------------------------------

std::vector<float> planted_frequencies(int32_t n, float sparsity, float hot_fraction, float hot_coverage, double *alpha_out) {
  const double mean = 1.0 - sparsity, pmax = 0.98;
  // p_r = min(pmax, c (r+1)^-alpha), c set so the mean is 1 - sparsity.
  auto shape = [&](double alpha) {
    std::vector<double> w((size_t)n);
    for (int32_t r = 0; r < n; ++r) w[(size_t)r] = std::pow(r + 1.0, -alpha);
    double lo = 0, hi = 1e9;
    for (int it = 0; it < 200; ++it) {
      const double c = (lo + hi) / 2;
      double sum = 0;
      for (double v : w) sum += std::min(pmax, c * v);
      (sum / n < mean ? lo : hi) = c;
    }
    for (double &v : w) v = std::min(pmax, lo * v);
    return w;
  };
  auto coverage = [&](const std::vector<double> &p) {
    const size_t hot = (size_t)std::lround(hot_fraction * n);
    double top = 0, all = 0;
    for (size_t r = 0; r < p.size(); ++r) (r < hot ? top : all) += p[r];
    return top / (top + all);
  };
  double lo = 0, hi = 6;  // coverage grows with alpha
  for (int it = 0; it < 60; ++it) {
    const double a = (lo + hi) / 2;
    (coverage(shape(a)) < hot_coverage ? lo : hi) = a;
  }
  if (alpha_out) *alpha_out = lo;
  const std::vector<double> p = shape(lo);
  double sum = 0;
  for (double v : p) sum += v;
  if (std::fabs(sum / n - mean) > 1e-3 * mean || std::fabs(coverage(p) - hot_coverage) > 5e-3)
    fail(HEARTH_ERR_INVALID_ARGUMENT,
         fmt::format("the hottest {:.0f}% of neurons cannot cover {:.0f}% of firings at sparsity {:.2f} (a neuron fires at "
                     "most {:.0f}% of the time); raise the sparsity or lower the coverage",
                     100 * hot_fraction, 100 * hot_coverage, sparsity, 100 * pmax));
  return std::vector<float>(p.begin(), p.end());
}

namespace {

// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549671010229624e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
  const double pl = 0.02425;
  if (p < pl) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - pl) return -normal_quantile(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// Gaussian from the same deterministic generator (Box-Muller).
struct gauss {
  uint64_t s;
  double uniform() {
    s = mix(s);
    return ((double)(s >> 11) + 0.5) * 0x1.0p-53;
  }
  double next() { return std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

// How a planted model's dimensions are used. Dims [0, 32) are one block holding (1, 0, ..., 0) in every token's
// residual: a constant no layer writes, which the planted offsets multiply. Dims [32, half) hold each token's
// "features": z_1..z_m ~ N(0, 1) times an orthonormal basis U shared by all layers (the embedding lives in that
// m-dimensional subspace there); no layer writes them either. Attention and FFN outputs go to dims [half, d).
// A gate row is (offset_i e_0 + sum_h B_ih U_h) / ffn_norm weights, so its firing over tokens is set exactly by
// its offset: P(offset_i + B_i . z > 0) = p_i. The predictor reads (x_0, U x) with fc1 = [E; -E] (E the constant
// row and U) and multiplies by fc2 = [B'; -B'], where B' are the *quantized* gate rows expressed in that basis,
// so it matches what the stored gate computes, not merely what it was meant to compute.
constexpr int64_t k_const_dims = 32;

// The shared feature basis: m orthonormal rows over dims [32, half).
std::vector<double> planted_basis(const synth_config &c) {
  const int64_t d = c.n_embd, half = d / 2, m = c.predictor_rank / 2 - 1;
  gauss g{c.seed ^ 0xba515ull};
  std::vector<double> U((size_t)(m * d), 0.0);
  for (int64_t h = 0; h < m; ++h) {
    double *u = U.data() + h * d;
    for (int64_t j = k_const_dims; j < half; ++j) u[j] = g.next();
    for (int pass = 0; pass < 2; ++pass)  // Gram-Schmidt, twice for accuracy
      for (int64_t q = 0; q < h; ++q) {
        const double *v = U.data() + q * d;
        double dot = 0;
        for (int64_t j = k_const_dims; j < half; ++j) dot += u[j] * v[j];
        for (int64_t j = k_const_dims; j < half; ++j) u[j] -= dot * v[j];
      }
    double n2 = 0;
    for (int64_t j = k_const_dims; j < half; ++j) n2 += u[j] * u[j];
    for (int64_t j = k_const_dims; j < half; ++j) u[j] /= std::sqrt(n2);
  }
  return U;
}

struct planted_layer {
  std::vector<float> norm;    // ffn_norm weights
  std::vector<uint8_t> gate;  // quantized gate rows
  std::vector<float> Bq;      // n_ff x k: the quantized gate in the predictor's basis (column 0: the constant)
};

// The layer's ffn_norm weights (the first draws of its generator).
std::vector<float> planted_norm(const synth_config &c, uint64_t seed) {
  gauss g{seed};
  std::vector<float> norm((size_t)c.n_embd);
  for (float &w : norm) w = (float)(0.8 + 0.4 * g.uniform());
  return norm;
}

// The layer's ffn_norm weights and its neurons' firing frequencies in a random neuron order.
void plant_norm_and_frequencies(const synth_config &c, int32_t il, uint64_t seed, std::vector<float> &norm, std::vector<float> &freq) {
  gauss g{seed};
  norm.resize((size_t)c.n_embd);
  for (float &w : norm) w = (float)(0.8 + 0.4 * g.uniform());
  freq = c.profile.empty() ? planted_frequencies(c.n_ff, c.sparsity, c.hot_fraction, c.hot_coverage)
                           : profile_frequencies(c.profile, il, c.n_layer, c.n_ff);
  for (int64_t i = c.n_ff - 1; i > 0; --i) std::swap(freq[(size_t)i], freq[(size_t)(g.uniform() * (double)(i + 1))]);
}

uint64_t layer_seed(const synth_config &c, int32_t il) { return c.seed ^ mix(0x5eed0000ull + (uint64_t)il); }

uint64_t expert_seed(const synth_config &c, int32_t il, int32_t e) { return layer_seed(c, il) ^ mix(0xe4e40000ull + (uint64_t)e); }

// A layer's planted gate, or (expert >= 0) one expert's: the layer's norm, the expert's own neuron order and rows.
planted_layer plant(const synth_config &c, const std::vector<double> &U, int32_t il, int32_t expert = -1) {
  const int64_t d = c.n_embd, ff = c.n_ff, half = d / 2, k = c.predictor_rank / 2, m = k - 1;
  const uint64_t seed = expert < 0 ? layer_seed(c, il) : expert_seed(c, il, expert);
  planted_layer p;
  std::vector<float> freq, unused;
  plant_norm_and_frequencies(c, il, layer_seed(c, il), p.norm, freq);
  if (expert >= 0) plant_norm_and_frequencies(c, il, seed, unused, freq);
  const size_t rb = row_bytes(c.type, d);
  p.gate.resize(rb * (size_t)ff);
  p.Bq.assign((size_t)(ff * k), 0.0f);
  tbb::parallel_for((int64_t)0, ff, [&](int64_t i) {
    gauss gi{seed ^ mix(0xb0000000ull + (uint64_t)i)};  // per-neuron generator: same bytes on any thread count
    std::vector<double> b((size_t)m);
    double n2 = 0;
    for (double &x : b) {
      x = gi.next();
      n2 += x * x;
    }
    // B . z with z ~ N(0, I) has standard deviation |B|.
    const double offset = std::sqrt(n2) * normal_quantile((double)freq[(size_t)i]);
    std::vector<float> row((size_t)d, 0.0f);
    row[0] = (float)(offset / p.norm[0]);
    for (int64_t j = k_const_dims; j < half; ++j) {
      double v = 0;
      for (int64_t h = 0; h < m; ++h) v += b[(size_t)h] * U[(size_t)(h * d + j)];
      row[(size_t)j] = (float)(v / p.norm[(size_t)j]);
    }
    uint8_t *q = p.gate.data() + (size_t)i * rb;
    quantize_row(c.type, row.data(), q, d);
    dequantize_row(c.type, q, row.data(), d);
    // What the stored gate computes on a token (up to the norm's positive scale): (gate_q * w) . x, with
    // x = e_0 + U^T z on the dims the gate reads.
    float *bq = p.Bq.data() + i * k;
    bq[0] = row[0] * p.norm[0];
    for (int64_t h = 0; h < m; ++h) {
      double v = 0;
      for (int64_t j = k_const_dims; j < half; ++j) v += (double)row[(size_t)j] * p.norm[(size_t)j] * U[(size_t)(h * d + j)];
      bq[h + 1] = (float)v;
    }
  });
  return p;
}

// The planted router of a layer: n_expert rows over the constant and the feature dims (divided by the FFN norm's
// weights, which it reads after), and the selection frequency each expert gets over random features.
struct planted_router {
  std::vector<float> rows;  // n_expert x n_embd
  std::vector<float> frequency;
};

planted_router plant_router(const synth_config &c, const std::vector<double> &U, int32_t il) {
  const int64_t d = c.n_embd, half = d / 2, m = c.predictor_rank / 2 - 1, E = c.n_expert;
  const std::vector<float> norm = planted_norm(c, layer_seed(c, il));
  gauss g{layer_seed(c, il) ^ 0x7007e7ull};
  std::vector<int32_t> rank((size_t)E);
  for (int64_t e = 0; e < E; ++e) rank[(size_t)e] = (int32_t)e;
  for (int64_t e = E - 1; e > 0; --e) std::swap(rank[(size_t)e], rank[(size_t)(g.uniform() * (double)(e + 1))]);
  std::vector<double> bias((size_t)E), R((size_t)(E * m));
  const double sigma = 1.5 / std::sqrt((double)m);  // r_e . z ~ N(0, 1.5^2)
  for (int64_t e = 0; e < E; ++e) {
    bias[(size_t)e] = -c.expert_skew * std::log(1.0 + rank[(size_t)e]);
    for (int64_t h = 0; h < m; ++h) R[(size_t)(e * m + h)] = sigma * g.next();
  }
  planted_router r;
  r.rows.assign((size_t)(E * d), 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    float *row = r.rows.data() + e * d;
    row[0] = (float)(bias[(size_t)e] / norm[0]);
    for (int64_t j = k_const_dims; j < half; ++j) {
      double v = 0;
      for (int64_t h = 0; h < m; ++h) v += R[(size_t)(e * m + h)] * U[(size_t)(h * d + j)];
      row[(size_t)j] = (float)(v / norm[(size_t)j]);
    }
  }
  // selection frequencies: the top n_expert_used logits over 4096 draws of the features
  r.frequency.assign((size_t)E, 0.0f);
  std::vector<double> z((size_t)m), logit((size_t)E);
  std::vector<int32_t> order((size_t)E);
  const int draws = 4096;
  for (int s = 0; s < draws; ++s) {
    for (double &v : z) v = g.next();
    for (int64_t e = 0; e < E; ++e) {
      double v = bias[(size_t)e];
      for (int64_t h = 0; h < m; ++h) v += R[(size_t)(e * m + h)] * z[(size_t)h];
      logit[(size_t)e] = v;
    }
    for (int64_t e = 0; e < E; ++e) order[(size_t)e] = (int32_t)e;
    std::partial_sort(order.begin(), order.begin() + c.n_expert_used, order.end(),
                      [&](int32_t a, int32_t b) { return logit[(size_t)a] > logit[(size_t)b]; });
    for (int32_t j = 0; j < c.n_expert_used; ++j) r.frequency[(size_t)order[(size_t)j]] += 1.0f / draws;
  }
  return r;
}

}  // namespace

std::vector<std::vector<float>> measured_profile(const std::string &path) {
  const auto f = gguf_file::open(path);
  std::vector<std::vector<float>> p;
  for (kv k : {kv::hearth_calibration_frequency, kv::hearth_synthetic_frequency}) {
    for (int il = 0;; ++il) {
      std::vector<float> v = f->get_floats(key_name(k, {}, il));
      if (v.empty()) break;
      p.push_back(std::move(v));
    }
    if (!p.empty()) return p;
  }
  fail(HEARTH_ERR_BAD_FORMAT, path + " records no per-neuron frequencies (hearth.calibration.frequency.N): calibrate it first");
}

std::vector<float> profile_frequencies(const std::vector<std::vector<float>> &profile, int32_t il, int32_t n_layer, int32_t n) {
  std::vector<float> src = profile[std::min(profile.size() - 1, (size_t)il * profile.size() / (size_t)std::max(1, n_layer))];
  std::sort(src.begin(), src.end(), std::greater<float>());
  std::vector<float> out((size_t)n);
  // the measured distribution's quantiles; kept inside (0, 1), where a neuron's gate offset is finite
  for (int32_t i = 0; i < n; ++i) {
    const float v = src[std::min(src.size() - 1, (size_t)(((double)i + 0.5) * (double)src.size() / n))];
    out[(size_t)i] = std::clamp(v, 1e-4f, 0.98f);
  }
  return out;
}

bool synth_preset(const std::string &name, synth_config *c) {
  synth_config d;
  if (name == "tiny") {
    d.n_vocab = 1024, d.n_embd = 128, d.n_layer = 2, d.n_ff = 352, d.n_head = 4, d.n_head_kv = 2;
  } else if (name == "small") {
    d.n_vocab = 0, d.n_embd = 512, d.n_layer = 8, d.n_ff = 1376, d.n_head = 8, d.n_head_kv = 4;
  } else if (name == "1b") {
    d.n_vocab = 32000, d.n_embd = 2048, d.n_layer = 22, d.n_ff = 5632, d.n_head = 32, d.n_head_kv = 4;
    d.type = dtype::q4_0;
  } else if (name == "7b") {
    d.n_vocab = 32000, d.n_embd = 4096, d.n_layer = 32, d.n_ff = 11008, d.n_head = 32, d.n_head_kv = 32;
    d.type = dtype::q4_0;
  } else if (name == "13b") {
    d.n_vocab = 32000, d.n_embd = 5120, d.n_layer = 40, d.n_ff = 13824, d.n_head = 40, d.n_head_kv = 40;
    d.type = dtype::f16;
  } else if (name == "qwen3-8b") {  // Qwen3-8B's shape: 36 layers, GQA 32/8 with 128-wide heads, byte-level vocabulary
    d.arch = "qwen3", d.n_vocab = 151936, d.n_embd = 4096, d.n_layer = 36, d.n_ff = 12288, d.n_head = 32, d.n_head_kv = 8;
    d.head_dim = 128, d.rope_base = 1000000.0f, d.rms_eps = 1e-6f, d.n_ctx = 40960;
    d.tokenizer = "bpe", d.pre = "qwen2";
    d.type = dtype::q4_0;
  } else if (name == "relufalcon-40b") {  // ReluFalcon-40B's shape: 60 layers, 8192 wide, GQA 128/8, ReLU FFN of 32768
    d.arch = "falcon", d.falcon_norm2 = true, d.ffn = "relu_nogate";
    d.n_vocab = 65024, d.n_embd = 8192, d.n_layer = 60, d.n_ff = 32768, d.n_head = 128, d.n_head_kv = 8;
    d.tokenizer = "bpe", d.pre = "falcon";
    d.type = dtype::q4_0;
  } else {
    return false;
  }
  *c = d;
  return true;
}

void write_synthetic_model(const std::string &path, const synth_config &c, std::string_view corpus,
                           const std::function<bool(size_t, size_t)> &progress) {
  if (c.n_embd <= 0 || c.n_layer <= 0 || c.n_ff <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.n_ctx <= 0 ||
      c.n_embd % c.n_head || c.n_head % c.n_head_kv || (c.n_embd / c.n_head) % 2)
    fail(HEARTH_ERR_INVALID_ARGUMENT, "inconsistent shape: n_embd must split into an even head size, n_head into KV groups");
  const int64_t blk = traits(c.type).block_elems;
  if (c.n_embd % blk || c.n_ff % blk)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_embd and n_ff must be multiples of {} for {}", blk, type_name(c.type)));
  if (c.ffn != "silu" && c.ffn != "relu" && c.ffn != "drelu" && c.ffn != "relu_nogate")
    fail(HEARTH_ERR_INVALID_ARGUMENT, "ffn must be silu, relu, drelu or relu_nogate");

  const bool planted = c.sparsity > 0.0f;
  const char *const archs[] = {"llama", "bamboo", "qwen2", "qwen3", "falcon", "phi3", "gemma2", "gemma3", "opt", "qwen3moe"};
  if (std::find(std::begin(archs), std::end(archs), c.arch) == std::end(archs))
    fail(HEARTH_ERR_INVALID_ARGUMENT, "arch must be llama, bamboo, qwen2, qwen3, falcon, phi3, gemma2, gemma3, opt or qwen3moe");
  if (c.arch == "qwen3moe" && c.n_expert == 0) fail(HEARTH_ERR_INVALID_ARGUMENT, "a qwen3moe model has experts (--experts N)");
  if (c.arch == "bamboo" && c.ffn != "drelu") fail(HEARTH_ERR_INVALID_ARGUMENT, "a bamboo FFN is dReLU (--ffn drelu)");
  const bool falcon = c.arch == "falcon", phi3 = c.arch == "phi3", gemma = c.arch == "gemma2" || c.arch == "gemma3";
  const bool opt = c.arch == "opt", layer_norm = falcon || opt;  // LayerNorm with bias
  if (opt && c.ffn != "silu" && c.ffn != "relu_nogate") fail(HEARTH_ERR_INVALID_ARGUMENT, "an opt FFN is gate-less ReLU");
  if ((phi3 || gemma) && c.ffn == "relu_nogate") fail(HEARTH_ERR_INVALID_ARGUMENT, "a " + c.arch + " FFN has a gate");
  if (falcon && c.ffn != "silu" && c.ffn != "relu_nogate")
    fail(HEARTH_ERR_INVALID_ARGUMENT, "a falcon FFN is gate-less GELU (the default) or relu_nogate (ReluFalcon)");
  const int64_t hd = c.head_dim > 0 ? c.head_dim : c.n_embd / c.n_head;
  if (hd % 2) fail(HEARTH_ERR_INVALID_ARGUMENT, "the head size must be even");
  const bool moe = c.n_expert > 0;
  if (moe) {
    if (c.arch != "llama" && c.arch != "qwen3moe") fail(HEARTH_ERR_INVALID_ARGUMENT, "experts are written in the llama (Mixtral) or qwen3moe layout");
    if (c.n_expert_used < 1 || c.n_expert_used > c.n_expert || c.n_expert > 256)
      fail(HEARTH_ERR_INVALID_ARGUMENT, "experts: 1 <= experts used <= experts <= 256");
    if (c.ffn == "relu_nogate") fail(HEARTH_ERR_INVALID_ARGUMENT, "experts are gated FFNs");
    if (!(c.expert_skew >= 0)) fail(HEARTH_ERR_INVALID_ARGUMENT, "the expert skew must be >= 0");
  }
  if (planted && c.arch != "llama" && c.arch != "bamboo" && !(moe && c.arch == "qwen3moe")) fail(HEARTH_ERR_INVALID_ARGUMENT, "planted sparsity is written in the llama (ReGLU) or bamboo layout only");
  if (planted || moe) {  // the planted layout: the constant dims, and room for the features (rank / 2 - 1 dims)
    if (c.predictor_rank < 4 || c.predictor_rank % 2 || c.predictor_rank / 2 > c.n_embd / 2 - k_const_dims || c.n_embd % 64)
      fail(HEARTH_ERR_INVALID_ARGUMENT, "a planted model (sparsity or a router) needs n_embd a multiple of 64 and a predictor "
                                        "rank that is even and at most n_embd - 64");
  }
  if (planted) {
    if (c.ffn == "silu") fail(HEARTH_ERR_INVALID_ARGUMENT, "planted sparsity needs a ReLU-family FFN (--ffn relu or drelu)");
    if (c.ffn == "relu_nogate") fail(HEARTH_ERR_INVALID_ARGUMENT, "planted sparsity needs a gate (--ffn relu or drelu)");
    if (!(c.sparsity < 1.0f) || !(c.hot_fraction > 0 && c.hot_fraction < 1) || !(c.hot_coverage > c.hot_fraction && c.hot_coverage < 1))
      fail(HEARTH_ERR_INVALID_ARGUMENT, "planted sparsity needs 0 < sparsity < 1 and hot_fraction < hot_coverage < 1");
    if (c.predictor_rank < 4 || c.predictor_rank % 2 || c.predictor_rank % traits(c.predictor_type).block_elems ||
        c.predictor_rank / 2 > c.n_embd / 2 - k_const_dims || c.n_embd % 64)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("planting needs n_embd a multiple of 64 and a predictor rank that is even, a multiple "
                                                    "of {} and at most n_embd - 64", traits(c.predictor_type).block_elems));
  }
  if (c.tokenizer != "spm" && c.tokenizer != "bpe") fail(HEARTH_ERR_INVALID_ARGUMENT, "tokenizer must be spm or bpe");
  const bpe_vocab vocab = c.tokenizer == "bpe" ? train_byte_bpe(corpus, c.n_vocab, c.pre) : train_bpe(corpus, c.n_vocab);
  const int64_t nv = (int64_t)vocab.tokens.size();
  // PowerInfer reads a ReLU-family llama file as ReGLU and bamboo as dReLU; hearth's own key says it explicitly.
  const std::string arch = planted && c.ffn == "drelu" && !moe ? "bamboo" : c.arch;
  gguf_writer w;
  const bool pwri = planted && !c.llama_layout && !moe;  // an MoE file has no predictors: plain GGUF
  w.set_pwri(pwri);
  w.set_str(key_name(kv::general_architecture), arch);
  w.set_str(key_name(kv::general_name),
            fmt::format("hearth synthetic {}x{} {}", c.n_layer, c.n_embd, c.type_label.empty() ? type_name(c.type) : c.type_label));
  w.set_u64(key_name(kv::hearth_synthetic_seed), c.seed);
  w.set_u32(key_name(kv::context_length, arch), (uint32_t)c.n_ctx);
  w.set_u32(key_name(kv::embedding_length, arch), (uint32_t)c.n_embd);
  w.set_u32(key_name(kv::block_count, arch), (uint32_t)c.n_layer);
  w.set_u32(key_name(kv::feed_forward_length, arch), (uint32_t)c.n_ff);
  w.set_u32(key_name(kv::head_count, arch), (uint32_t)c.n_head);
  w.set_u32(key_name(kv::head_count_kv, arch), (uint32_t)c.n_head_kv);
  w.set_u32(key_name(kv::rope_dimension_count, arch), (uint32_t)hd);
  if (c.head_dim > 0) {
    w.set_u32(key_name(kv::key_length, arch), (uint32_t)hd);
    w.set_u32(key_name(kv::value_length, arch), (uint32_t)hd);
  }
  w.set_f32(key_name(kv::rope_freq_base, arch), c.rope_base);
  w.set_f32(key_name(kv::layer_norm_rms_epsilon, arch), c.rms_eps);
  if (moe) {
    w.set_u32(key_name(kv::expert_count, arch), (uint32_t)c.n_expert);
    w.set_u32(key_name(kv::expert_used_count, arch), (uint32_t)c.n_expert_used);
    if (arch == "qwen3moe") w.set_u32(key_name(kv::expert_feed_forward_length, arch), (uint32_t)c.n_ff);
  }
  // "silu" leaves falcon and gemma their own FFN (GELU, GeGLU); hearth's key names any other
  if (!(falcon || gemma || opt) || c.ffn != "silu") w.set_str(key_name(kv::hearth_ffn_activation), c.ffn);
  if (layer_norm) w.set_f32(key_name(kv::layer_norm_epsilon, arch), c.rms_eps);
  if (gemma) w.set_u32(key_name(kv::sliding_window, arch), arch == "gemma3" ? 1024 : 4096);
  if (planted) {
    if (pwri) w.set_f32(key_name(kv::powerinfer_sparse_threshold), 0.0f);
    w.set_f32(key_name(kv::hearth_synthetic_sparsity), c.sparsity);
    w.set_f32(key_name(kv::hearth_synthetic_hot_fraction), c.hot_fraction);
    w.set_f32(key_name(kv::hearth_synthetic_hot_coverage), c.hot_coverage);
    // Each neuron's planted firing probability, so that a calibration can be checked against it.
    // (a mixture: each expert's, expert-major, among the tokens that choose it)
    for (int32_t il = 0; il < c.n_layer && c.frequency_record; ++il) {
      std::vector<float> norm, freq, all;
      for (int32_t e = moe ? 0 : -1; e < (moe ? c.n_expert : 0); ++e) {
        plant_norm_and_frequencies(c, il, e < 0 ? layer_seed(c, il) : expert_seed(c, il, e), norm, freq);
        all.insert(all.end(), freq.begin(), freq.end());
      }
      w.set_arr_f32(key_name(kv::hearth_synthetic_frequency, {}, il), all);
    }
  }
  const auto basis = std::make_shared<std::vector<double>>(planted || moe ? planted_basis(c) : std::vector<double>());
  if (moe)
    for (int32_t il = 0; il < c.n_layer; ++il)
      w.set_arr_f32(key_name(kv::hearth_synthetic_expert_frequency, {}, il), plant_router(c, *basis, il).frequency);
  write_vocab(w, vocab);

  const int64_t d = c.n_embd, dq = hd * c.n_head, dkv = hd * c.n_head_kv, ff = c.n_ff, half = d / 2;
  const auto type_for = [&c](const std::string &name, int64_t cols) { return c.type_of ? c.type_of(name, cols) : c.type; };
  // A random matrix; in a planted model, outputs that would write the constant or predictor dims are zero.
  auto matrix = [&](const std::string &name, int64_t cols, int64_t rows, float scale, int64_t zero_rows = 0,
                    int64_t zero_cols = 0) {
    const uint64_t seed = c.seed ^ hash_name(name);
    const dtype t = type_for(name, cols);
    w.add_tensor(name, t, {cols, rows}, [=](uint8_t *dst, size_t) {
      fill_rows(dst, t, cols, rows, seed, 0.0f, scale, [=](int64_t r, float *v) {
        if (r < zero_rows) std::fill(v, v + cols, 0.0f);
        std::fill(v, v + zero_cols, 0.0f);
      });
    });
  };
  // An F32 vector of n values around center (norm weights: 1; biases: 0).
  auto vector = [&](const std::string &name, int64_t n, float center, float scale) {
    const uint64_t seed = c.seed ^ hash_name(name);
    w.add_tensor(name, dtype::f32, {n}, [=](uint8_t *dst, size_t) { fill_rows(dst, dtype::f32, n, 1, seed, center, scale); });
  };
  auto norm = [&](const std::string &name) {
    vector(name, d, 1.0f, 0.2f);
    if (layer_norm) vector(name.substr(0, name.size() - 6) + "bias", d, 0.0f, 0.1f);  // LayerNorm's bias ("...weight")
  };
  // Uniform(-a, a) has variance a^2/3: a = sqrt(3/n_in) keeps each output near unit variance.
  const float sd = std::sqrt(3.0f / (float)d), sf = std::sqrt(3.0f / (float)ff);
  // An unplanted layer's down projection: row-major, or neuron-major (n_ff rows of n_embd) when asked.
  auto down = [&](int32_t il) {
    if (c.neuron_major) matrix(tensor_name(tensor::ffn_down_t, il), d, ff, sf);
    else matrix(tensor_name(tensor::ffn_down, il), ff, d, sf);
  };
  const bool layout = planted || moe;  // the constant and feature dims the planted gates and router read
  {
    const uint64_t seed = c.seed ^ hash_name(tensor_name(tensor::token_embd));
    const int64_t m = c.predictor_rank / 2 - 1;
    const dtype t = type_for(tensor_name(tensor::token_embd), d);
    w.add_tensor(tensor_name(tensor::token_embd), t, {d, nv}, [=](uint8_t *dst, size_t) {
      fill_rows(dst, t, d, nv, seed, 0.0f, 1.0f, [=](int64_t r, float *v) {
        if (!layout) return;
        // The constant block, then this token's features z in the shared basis (see planted_basis).
        std::fill(v, v + half, 0.0f);
        v[0] = 1.0f;
        gauss g{seed ^ mix(0xe0000000ull + (uint64_t)r)};
        for (int64_t h = 0; h < m; ++h) {
          const double z = g.next();
          for (int64_t j = k_const_dims; j < half; ++j) v[j] += (float)(z * (*basis)[(size_t)(h * d + j)]);
        }
      });
    });
  }
  norm(tensor_name(tensor::output_norm));
  if (!c.tied_output && !gemma && !opt) matrix(tensor_name(tensor::output), d, nv, sd);  // tied: Gemma, OPT
  if (opt) matrix(tensor_name(tensor::position_embd), d, c.n_ctx + 2, 0.5f);  // OPT's 2 offset rows first
  // The planted layer is computed once, when its first tensor is written, and shared by its tensors.
  auto cache = std::make_shared<std::pair<int32_t, planted_layer>>(-1, planted_layer{});
  auto planted_of = [cache, c, basis](int32_t il) -> const planted_layer & {
    if (cache->first != il) {
      cache->second = plant(c, *basis, il);
      cache->first = il;
    }
    return cache->second;
  };
  // A mixture's planted experts, computed once per layer (its gates, then its predictors read them).
  auto expert_cache = std::make_shared<std::pair<int32_t, std::vector<planted_layer>>>(-1, std::vector<planted_layer>{});
  auto experts_of = [expert_cache, c, basis](int32_t il) -> const std::vector<planted_layer> & {
    if (expert_cache->first != il) {
      expert_cache->second.clear();
      for (int32_t e = 0; e < c.n_expert; ++e) expert_cache->second.push_back(plant(c, *basis, il, e));
      expert_cache->first = il;
    }
    return expert_cache->second;
  };
  for (int32_t il = 0; il < c.n_layer; ++il) {
    norm(tensor_name(tensor::attn_norm, il));
    if (falcon) {  // fused Q/K/V rows, parallel attention and FFN, no gate
      if (c.falcon_norm2) norm(tensor_name(tensor::attn_norm_2, il));
      matrix(tensor_name(tensor::attn_qkv, il), d, dq + 2 * dkv, sd);
      matrix(tensor_name(tensor::attn_output, il), dq, d, (float)std::sqrt(3.0 / (double)dq));
      matrix(tensor_name(tensor::ffn_up, il), d, ff, sd);
      down(il);
      continue;
    }
    if (phi3) {  // fused Q/K/V rows and fused gate/up rows (the gate's first)
      matrix(tensor_name(tensor::attn_qkv, il), d, dq + 2 * dkv, sd);
      matrix(tensor_name(tensor::attn_output, il), dq, d, (float)std::sqrt(3.0 / (double)dq));
      norm(tensor_name(tensor::ffn_norm, il));
      matrix(tensor_name(tensor::ffn_up, il), d, 2 * ff, sd);
      down(il);
      continue;
    }
    matrix(tensor_name(tensor::attn_q, il), d, dq, sd);
    matrix(tensor_name(tensor::attn_k, il), d, dkv, sd);
    matrix(tensor_name(tensor::attn_v, il), d, dkv, sd);
    if (gemma) {
      norm(tensor_name(tensor::attn_post_norm, il));
      norm(tensor_name(tensor::ffn_post_norm, il));
    }
    if (arch == "qwen2" || opt) {
      vector(tensor_name(tensor::attn_q, il, "bias"), dq, 0.0f, 0.1f);
      vector(tensor_name(tensor::attn_k, il, "bias"), dkv, 0.0f, 0.1f);
      vector(tensor_name(tensor::attn_v, il, "bias"), dkv, 0.0f, 0.1f);
    }
    if (arch == "qwen3" || arch == "gemma3" || arch == "qwen3moe") {
      vector(tensor_name(tensor::attn_q_norm, il), hd, 1.0f, 0.2f);
      vector(tensor_name(tensor::attn_k_norm, il), hd, 1.0f, 0.2f);
    }
    if (moe) {  // the router and the experts, 3-D (ggml ne {cols, rows, experts}); attention never writes [0, half)
      const int64_t E = c.n_expert;
      matrix(tensor_name(tensor::attn_output, il), dq, d, (float)std::sqrt(3.0 / (double)dq), half);
      w.add_tensor(tensor_name(tensor::ffn_norm, il), dtype::f32, {d}, [=](uint8_t *dst, size_t n) {
        std::memcpy(dst, planted_norm(c, layer_seed(c, il)).data(), n);
      });
      w.add_tensor(tensor_name(tensor::ffn_gate_inp, il), dtype::f32, {d, E}, [=](uint8_t *dst, size_t n) {
        std::memcpy(dst, plant_router(c, *basis, il).rows.data(), n);
      });
      // experts of `rows` rows each; zero(r, v): the row writes no dims below half
      auto experts = [&](tensor t, int64_t cols, int64_t rows, float scale, bool zero_first_rows, bool zero_first_cols) {
        const std::string name = tensor_name(t, il);
        const uint64_t seed = c.seed ^ hash_name(name);
        const dtype ty = type_for(name, cols);
        w.add_tensor(name, ty, {cols, rows, E}, [=](uint8_t *dst, size_t) {
          fill_rows(dst, ty, cols, rows * E, seed, 0.0f, scale, [=](int64_t r, float *v) {
            if (zero_first_rows && r % rows < half) std::fill(v, v + cols, 0.0f);
            if (zero_first_cols) std::fill(v, v + half, 0.0f);
          });
        });
      };
      if (planted) {
        const dtype ty = c.type;
        w.add_tensor(tensor_name(tensor::ffn_gate_exps, il), ty, {d, ff, E}, [=](uint8_t *dst, size_t) {
          const size_t bytes = row_bytes(ty, d) * (size_t)ff;
          for (int32_t e = 0; e < (int32_t)E; ++e) std::memcpy(dst + bytes * (size_t)e, experts_of(il)[(size_t)e].gate.data(), bytes);
        });
      } else {
        experts(tensor::ffn_gate_exps, d, ff, sd, false, false);
      }
      experts(tensor::ffn_up_exps, d, ff, sd, false, false);
      if (c.neuron_major || (planted && !c.llama_layout)) experts(tensor::ffn_down_exps, d, ff, sf, false, true);
      else experts(tensor::ffn_down_exps, ff, d, sf, true, false);
      if (planted && !c.llama_layout) {  // each expert's exact predictor, as a dense planted layer's (below)
        const int64_t rank = c.predictor_rank, k = rank / 2;
        const dtype pt = c.predictor_type;
        w.add_tensor(tensor_name(tensor::fc1_exps, il), pt, {d, rank, E}, [=](uint8_t *dst, size_t) {
          const size_t rb = row_bytes(pt, d);
          std::vector<float> row((size_t)d);
          for (int64_t h = 0; h < rank; ++h) {
            const float sign = h < k ? 1.0f : -1.0f;
            const int64_t b = h % k;
            for (int64_t j = 0; j < d; ++j) row[(size_t)j] = b == 0 ? (j == 0 ? sign : 0.0f) : sign * (float)(*basis)[(size_t)((b - 1) * d + j)];
            for (int64_t e = 0; e < E; ++e) quantize_row(pt, row.data(), dst + (size_t)(e * rank + h) * rb, d);
          }
        });
        w.add_tensor(tensor_name(tensor::fc2_exps, il), pt, {rank, ff, E}, [=](uint8_t *dst, size_t) {
          const size_t rb = row_bytes(pt, rank);
          std::vector<float> row((size_t)rank);
          for (int64_t e = 0; e < E; ++e) {
            const planted_layer &pl = experts_of(il)[(size_t)e];
            for (int64_t i = 0; i < ff; ++i) {
              for (int64_t h = 0; h < rank; ++h) row[(size_t)h] = (h < k ? 1.0f : -1.0f) * pl.Bq[(size_t)(i * k + h % k)];
              quantize_row(pt, row.data(), dst + (size_t)(e * ff + i) * rb, rank);
            }
          }
        });
      }
      continue;
    }
    if (!planted) {  // OPT: a bias on every projection, no gate
      matrix(tensor_name(tensor::attn_output, il), dq, d, (float)std::sqrt(3.0 / (double)dq));
      if (opt) vector(tensor_name(tensor::attn_output, il, "bias"), d, 0.0f, 0.1f);
      norm(tensor_name(tensor::ffn_norm, il));
      if (c.ffn != "relu_nogate" && !opt) matrix(tensor_name(tensor::ffn_gate, il), d, ff, sd);
      matrix(tensor_name(tensor::ffn_up, il), d, ff, sd);
      if (opt) vector(tensor_name(tensor::ffn_up, il, "bias"), ff, 0.0f, 0.1f);
      down(il);
      if (opt) vector(tensor_name(tensor::ffn_down, il, "bias"), d, 0.0f, 0.1f);
      continue;
    }
    const int64_t rank = c.predictor_rank, k = rank / 2;
    const dtype pt = c.predictor_type;
    matrix(tensor_name(tensor::attn_output, il), d, d, sd, half);  // attention never writes dims [0, half)
    w.add_tensor(tensor_name(tensor::ffn_norm, il), dtype::f32, {d}, [=](uint8_t *dst, size_t n) {
      std::memcpy(dst, planted_of(il).norm.data(), n);
    });
    w.add_tensor(tensor_name(tensor::ffn_gate, il), c.type, {d, ff}, [=](uint8_t *dst, size_t n) {
      std::memcpy(dst, planted_of(il).gate.data(), n);
    });
    matrix(tensor_name(tensor::ffn_up, il), d, ff, sd);
    if (c.llama_layout) {  // llama.cpp's layout, for `hearth calibrate` to turn into a sparse file
      matrix(tensor_name(tensor::ffn_down, il), ff, d, sf, half);
      continue;
    }
    matrix(tensor_name(tensor::ffn_down_t, il), d, ff, sf, 0, half);  // neuron-major; never writes dims [0, half)
    // fc1 = [E; -E] and fc2 = [B', -B']: fc2 . relu(fc1 . x) = B' E x, the quantized gate on the feature space.
    w.add_tensor(tensor_name(tensor::fc1, il), pt, {d, rank}, [=](uint8_t *dst, size_t) {
      const size_t rb = row_bytes(pt, d);
      std::vector<float> row((size_t)d);
      for (int64_t h = 0; h < rank; ++h) {
        const float sign = h < k ? 1.0f : -1.0f;
        const int64_t e = h % k;  // 0: the constant dim; e >= 1: basis row e - 1
        for (int64_t j = 0; j < d; ++j) row[(size_t)j] = e == 0 ? (j == 0 ? sign : 0.0f) : sign * (float)(*basis)[(size_t)((e - 1) * d + j)];
        quantize_row(pt, row.data(), dst + h * rb, d);
      }
    });
    w.add_tensor(tensor_name(tensor::fc2, il), pt, {rank, ff}, [=](uint8_t *dst, size_t) {
      const planted_layer &pl = planted_of(il);
      const size_t rb = row_bytes(pt, rank);
      std::vector<float> row((size_t)rank);
      for (int64_t i = 0; i < ff; ++i) {
        for (int64_t h = 0; h < rank; ++h) row[(size_t)h] = (h < k ? 1.0f : -1.0f) * pl.Bq[(size_t)(i * k + h % k)];
        quantize_row(pt, row.data(), dst + i * rb, rank);
      }
    });
  }
  w.write(path, progress);
}

}  // namespace hearth
