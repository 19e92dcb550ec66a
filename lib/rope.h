// Rotary position embeddings: the angle of each rotated pair, with the scalings llama.cpp applies (linear, YaRN,
// Llama 3's and Phi-3's per-pair factors), folded into one frequency per pair at load, so every operator (the
// CPU's, the devices') rotates by pos * freq[i] and scales by mscale, whatever the model asked for.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hearth {

enum class rope_kind : uint8_t {
  none,
  normal,  // llama.cpp's "normal": rotates pairs (2i, 2i+1)
  neox,    // GPT-NeoX: rotates pairs (i, i + n_rot/2)
};

// What a file says about its rotary embedding (llama.cpp's rope_ext parameters).
struct rope_scaling {
  rope_kind kind = rope_kind::normal;
  int32_t n_rot = 0;             // rotated dims of each head (even)
  double base = 10000.0;         // rope.freq_base
  double freq_scale = 1.0;       // 1 / rope.scaling.factor (linear and YaRN interpolation)
  bool yarn = false;             // rope.scaling.type = yarn: interpolate low frequencies only, ramped
  double attn_factor = 1.0;      // rope.scaling.attn_factor: scales cos and sin (Phi-3's long RoPE)
  double beta_fast = 32.0, beta_slow = 1.0;  // YaRN's ramp, in rotations over the original context
  int32_t n_ctx_orig = 0;        // rope.scaling.original_context_length (YaRN's ramp)
  std::vector<float> factors;    // per pair, divides the frequency (rope_freqs, rope_factors_*); empty: none
};

// The rotation itself: pair i of the token at position p turns by p * freq[i], then both values scale by mscale.
struct rope_spec {
  rope_kind kind = rope_kind::none;
  int32_t n_rot = 0;
  double mscale = 1.0;
  std::vector<double> freq;  // n_rot / 2
  bool active() const { return kind != rope_kind::none && n_rot > 0; }
};

// The largest rotated width hearth's kernels take (a device copies the frequencies into its launch arguments).
inline constexpr int32_t k_max_rope_dims = 512;

// Folds the scaling into frequencies as ggml_rope_ext does: theta = p * base^(-2i/n_rot) / factor[i], linear
// interpolation by freq_scale, and for YaRN a ramp between the interpolated and the original angle over the
// pairs whose wavelength falls between beta_fast and beta_slow rotations of the original context, with the
// magnitude correction 1 + 0.1 ln(1 / freq_scale).
rope_spec make_rope(const rope_scaling &s);

// Rotates the first n_rot dims of every head of n tokens (x: [n][n_heads][head_dim]) at positions pos[t].
void rope(float *x, int64_t n, int32_t n_heads, int32_t head_dim, const rope_spec &r, const int32_t *pos);

}  // namespace hearth
