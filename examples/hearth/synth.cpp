#include "synth.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <vector>

#include "bpe.h"
#include "error.h"
#include "gguf.h"

namespace hearth {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_name(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Row r of a tensor: uniform values in [center - scale, center + scale], from a generator seeded by (tensor, row)
// so the bytes do not depend on how rows are spread over threads.
void fill_rows(uint8_t *dst, dtype type, int64_t cols, int64_t rows, uint64_t seed, float center, float scale) {
  const size_t rb = row_bytes(type, cols);
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, rows, 16), [&](const tbb::blocked_range<int64_t> &r) {
    std::vector<float> v((size_t)cols);
    for (int64_t row = r.begin(); row < r.end(); ++row) {
      uint64_t s = mix(seed ^ mix((uint64_t)row));
      for (float &x : v) {
        s = mix(s);
        x = center + scale * ((float)(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
      }
      quantize_row(type, v.data(), dst + row * rb, cols);
    }
  });
}

}  // namespace

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
  const int64_t blk = info(c.type).block_elems;
  if (c.n_embd % blk || c.n_ff % blk)
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_embd and n_ff must be multiples of {} for {}", blk, type_name(c.type)));
  if (c.ffn != "silu" && c.ffn != "relu" && c.ffn != "drelu" && c.ffn != "relu_nogate")
    fail(HEARTH_ERR_INVALID_ARGUMENT, "ffn must be silu, relu, drelu or relu_nogate");

  const bpe_vocab vocab = train_bpe(corpus, c.n_vocab);
  const int64_t nv = (int64_t)vocab.tokens.size();
  gguf_writer w;
  w.set_str("general.architecture", "llama");
  w.set_str("general.name", fmt::format("hearth synthetic {}x{} {}", c.n_layer, c.n_embd, type_name(c.type)));
  w.set_u64("hearth.synthetic.seed", c.seed);
  w.set_u32("llama.context_length", (uint32_t)c.n_ctx);
  w.set_u32("llama.embedding_length", (uint32_t)c.n_embd);
  w.set_u32("llama.block_count", (uint32_t)c.n_layer);
  w.set_u32("llama.feed_forward_length", (uint32_t)c.n_ff);
  w.set_u32("llama.attention.head_count", (uint32_t)c.n_head);
  w.set_u32("llama.attention.head_count_kv", (uint32_t)c.n_head_kv);
  w.set_u32("llama.rope.dimension_count", (uint32_t)(c.n_embd / c.n_head));
  w.set_f32("llama.rope.freq_base", c.rope_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_str("hearth.ffn_activation", c.ffn);
  w.set_str("tokenizer.ggml.model", "llama");
  w.set_arr_str("tokenizer.ggml.tokens", vocab.tokens);
  w.set_arr_f32("tokenizer.ggml.scores", vocab.scores);
  w.set_arr_i32("tokenizer.ggml.token_type", vocab.types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_bool("tokenizer.ggml.add_bos_token", true);

  const int64_t d = c.n_embd, dkv = (int64_t)c.n_embd / c.n_head * c.n_head_kv, ff = c.n_ff;
  auto matrix = [&](const std::string &name, int64_t cols, int64_t rows, float scale) {
    const uint64_t seed = c.seed ^ hash_name(name);
    const dtype t = c.type;
    w.add_tensor(name, t, {cols, rows}, [=](uint8_t *dst, size_t) { fill_rows(dst, t, cols, rows, seed, 0.0f, scale); });
  };
  auto norm = [&](const std::string &name) {
    const uint64_t seed = c.seed ^ hash_name(name);
    w.add_tensor(name, dtype::f32, {d}, [=](uint8_t *dst, size_t) { fill_rows(dst, dtype::f32, d, 1, seed, 1.0f, 0.2f); });
  };
  // Uniform(-a, a) has variance a^2/3: a = sqrt(3/n_in) keeps each output near unit variance.
  const float sd = std::sqrt(3.0f / (float)d), sf = std::sqrt(3.0f / (float)ff);
  matrix("token_embd.weight", d, nv, 1.0f);
  norm("output_norm.weight");
  if (!c.tied_output) matrix("output.weight", d, nv, sd);
  for (int32_t il = 0; il < c.n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    norm(p + "attn_norm.weight");
    matrix(p + "attn_q.weight", d, d, sd);
    matrix(p + "attn_k.weight", d, dkv, sd);
    matrix(p + "attn_v.weight", d, dkv, sd);
    matrix(p + "attn_output.weight", d, d, sd);
    norm(p + "ffn_norm.weight");
    if (c.ffn != "relu_nogate") matrix(p + "ffn_gate.weight", d, ff, sd);
    matrix(p + "ffn_up.weight", d, ff, sd);
    matrix(p + "ffn_down.weight", ff, d, sf);
  }
  w.write(path, progress);
}

}  // namespace hearth
