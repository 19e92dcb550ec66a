// Synthetic llama-architecture models of any shape and tensor type, with a BPE vocabulary trained from text the
// project ships. Their weights are random, so their text is meaningless; they exist to test and measure the
// engine on realistic shapes without downloads.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dtype.h"

namespace hearth {

struct synth_config {
  int32_t n_vocab = 2048;  // <= 0: exactly the tokens the training text supports (no filler)
  std::string tokenizer = "spm";  // spm (tokenizer.ggml.model "llama") | bpe (byte-level, "gpt2")
  std::string pre = "llama-bpe";  // the byte-level pre-tokenizer (tokenizer.ggml.pre)
  int32_t n_embd = 256, n_layer = 4, n_ff = 688, n_head = 8, n_head_kv = 4, n_ctx = 2048;
  dtype type = dtype::q8_0;     // every 2-D weight matrix; norms stay F32
  // When set, the type of each 2-D weight by tensor name and row length instead (a llama-quantize mixture such as
  // Q4_K_M; `type` is then its base type, which the planted gate keeps).
  std::function<dtype(const std::string &name, int64_t row_len)> type_of;
  std::string type_label;       // the mixture's name, for general.name
  std::string arch = "llama";   // llama | qwen2 (Q/K/V biases) | qwen3 (Q/K head norms) | falcon (LayerNorm, fused QKV,
                                // parallel, gate-less GELU or, with ffn relu_nogate, ReLU); all but llama NeoX RoPE
  bool falcon_norm2 = false;    // falcon: a second norm for the FFN (Falcon-40B's layout)
  int32_t head_dim = 0;         // 0: n_embd / n_head; else attention.key_length (Qwen3: 128 at any width)
  std::string ffn = "silu";     // silu | relu | drelu | relu_nogate
  bool tied_output = false;     // no output.weight: the embedding is reused
  float rope_base = 10000.0f, rms_eps = 1e-5f;
  uint64_t seed = 1;

  // Planted activation sparsity (0 = none). With it the FFN is ReLU-family, the file is PowerInfer's PWRI layout
  // (ffn_down_t, fc1/fc2 predictors that match the gates exactly), and neuron i of a layer fires for a fraction
  // p_i of tokens, p following a power law whose hottest hot_fraction of neurons cover hot_coverage of all firings.
  float sparsity = 0.0f;
  float hot_fraction = 0.2f, hot_coverage = 0.8f;
  // Instead of the power law: measured per-neuron frequencies, per layer (a calibrated file's
  // hearth.calibration.frequency.N; see measured_profile). Layer il plants the profile of layer
  // il * size / n_layer, resampled to n_ff by quantiles; sparsity is then the profile's (set it > 0 to plant).
  std::vector<std::vector<float>> profile;
  int32_t predictor_rank = 64;   // fc1 rows; the planted predictor is exact at rank 2 x (directions + 1)
  dtype predictor_type = dtype::q8_0;
  // Planted, but in llama.cpp's layout (GGUF magic, row-major ffn_down, no predictors): the input `hearth
  // calibrate` expects. The planted frequencies are in the metadata either way.
  bool llama_layout = false;
  // Without planting: store the down projection neuron-major (PowerInfer's ffn_down_t, no predictors), so the
  // exact gate skips the down rows of the neurons that are zero.
  bool neuron_major = false;
  // A mixture of experts in every layer (0: a dense FFN): n_expert experts of n_ff neurons, n_expert_used per
  // token, in llama's (Mixtral's) or qwen3moe's layout, routed by softmax with the chosen weights renormalised.
  // The router is planted on the token features: expert e's logit is bias_e + r_e . z, with the biases
  // -expert_skew ln(1 + rank) over a random order of the experts, so a few experts are chosen far more often; the
  // selection frequencies this gives (estimated over 4096 feature draws) are recorded per layer
  // (hearth.synthetic.expert_frequency.N). With planted sparsity each expert's gates are planted as a dense
  // layer's (its own neuron order), and the down projections are stored neuron-major (the shape of up, as
  // PowerInfer's SmallThinker files store them) unless llama_layout; there are no predictors.
  int32_t n_expert = 0, n_expert_used = 2;
  float expert_skew = 1.0f;
  // Write the planted per-neuron frequencies (hearth.synthetic.frequency.N). Off: the file looks like a PowerInfer
  // conversion, which carries no activation statistics.
  bool frequency_record = true;
};

// The per-neuron firing frequencies a planted layer gets (descending, before the random neuron order), and the
// power-law exponent that produced them.
std::vector<float> planted_frequencies(int32_t n_ff, float sparsity, float hot_fraction, float hot_coverage, double *alpha = nullptr);

// The per-layer frequencies a calibrated (or planted) file records: hearth.calibration.frequency.N, else
// hearth.synthetic.frequency.N. BAD_FORMAT if the file has neither.
std::vector<std::vector<float>> measured_profile(const std::string &path);
// Layer il's frequencies from a profile, n values (quantiles of the measured distribution, descending).
std::vector<float> profile_frequencies(const std::vector<std::vector<float>> &profile, int32_t il, int32_t n_layer, int32_t n);

// Named shapes: tiny, small, 1b (TinyLlama-like), 7b, 13b, qwen3-8b, relufalcon-40b. Returns false for an unknown name.
bool synth_preset(const std::string &name, synth_config *cfg);

// Writes the model; progress(done, total) after each tensor. Throws hearth::error.
void write_synthetic_model(const std::string &path, const synth_config &cfg, std::string_view corpus,
                           const std::function<bool(size_t, size_t)> &progress = nullptr);

// The text shipped with hearth for vocabulary training (examples/corpus.txt, compiled in).
std::string_view builtin_corpus();

}  // namespace hearth
