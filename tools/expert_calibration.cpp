#include "expert_calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "error.h"
#include "gguf_writer.h"
#include "log.h"
#include "names.h"
#include "session.h"

namespace hearth {

expert_calibration calibrate_experts(const model &m, const std::string &corpus, const calibrate_config &cfg,
                                     const calibrate_progress &progress) {
  const hparams &hp = m.hp();
  if (!hp.block.moe) fail(HEARTH_ERR_INVALID_ARGUMENT, "calibrate_experts: the model has no experts");
  if (!hp.block.ffn.relu_family())
    fail(HEARTH_ERR_UNSUPPORTED, std::string("calibration needs ReLU-family experts (ReGLU, dReLU): ") + hp.block.ffn.family() +
                                     " experts never output exact zeros; run them with the CATS sparse mode instead");
  const profile_config &pc = cfg.profile;
  if (pc.n_batch < 1 || pc.n_ctx < 2) fail(HEARTH_ERR_INVALID_ARGUMENT, "n_batch and n_ctx must be positive");
  std::vector<int32_t> tokens;
  m.tok().encode(corpus, true, false, tokens);
  if (tokens.size() < 16) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("the calibration text gave {} tokens; at least 16 are needed", tokens.size()));
  session_config sc;
  sc.n_ctx = pc.n_ctx;
  sc.n_batch = pc.n_batch;
  sc.n_threads = pc.n_threads;
  sc.sparse_mode = HEARTH_SPARSE_DENSE;
  sc.count_neurons = true;
  session s(m, sc);
  const int64_t total = (int64_t)tokens.size();
  for (int64_t w0 = 0; w0 < total; w0 += pc.n_ctx) {
    s.reset();  // keeps the counts (reset_stats would clear them)
    const int64_t w1 = std::min(total, w0 + pc.n_ctx);
    for (int64_t b = w0; b < w1; b += s.n_batch()) {
      const int64_t n = std::min<int64_t>(s.n_batch(), w1 - b);
      s.eval(tokens.data() + b, (int32_t)n, false);
      if (progress && !progress("profile", b + n, total)) fail(HEARTH_ERR_CANCELLED, "calibration was cancelled");
    }
  }
  const sparse_stats &st = s.stats();
  const size_t E = (size_t)hp.block.moe.n_expert, ff = (size_t)hp.n_ff;
  expert_calibration c;
  c.tokens = (int64_t)st.tokens;
  c.corpus_hash = fnv1a64(corpus.data(), corpus.size());
  for (size_t l = 0; l < (size_t)hp.n_layer; ++l) {
    std::vector<float> fe(E), fn(E * ff);
    for (size_t e = 0; e < E; ++e) {
      const uint64_t chosen = st.expert_chosen[l * E + e];
      fe[e] = c.tokens ? (float)((double)chosen / (double)c.tokens) : 0.0f;
      for (size_t i = 0; i < ff; ++i)
        fn[e * ff + i] = chosen ? (float)((double)st.fired[(l * E + e) * ff + i] / (double)chosen) : 0.0f;
    }
    c.expert_frequency.push_back(std::move(fe));
    c.frequency.push_back(std::move(fn));
  }
  return c;
}

void write_calibrated_experts(const model &m, const expert_calibration &c, const calibrate_config &cfg,
                              const std::string &path, const calibrate_progress &progress) {
  const gguf_file &src = m.file();
  const hparams &hp = m.hp();
  const int64_t d = hp.n_embd, ff = hp.n_ff, E = hp.block.moe.n_expert;
  if ((int32_t)c.frequency.size() != hp.n_layer) fail(HEARTH_ERR_INVALID_ARGUMENT, "one profile per layer is needed");
  if (d == ff)  // the loader tells the layouts apart by shape, as PowerInfer's does
    fail(HEARTH_ERR_UNSUPPORTED, "experts as wide as the model: a neuron-major ffn_down_exps would have the row-major shape");
  gguf_writer w;
  auto ours = [](std::string_view k) {
    return k.starts_with(k_calibration_prefix) || k == key_name(kv::hearth_ffn_activation) || k == key_name(kv::general_alignment);
  };
  for (const gguf_kv &kv : src.kvs())
    if (!ours(kv.key)) w.set_value(kv.key, kv.value);
  const char *act = ffn_form_key(hp.block.ffn);
  if (!act) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("no {} value names the {} FFN", key_name(kv::hearth_ffn_activation), hp.block.ffn.family()));
  w.set_str(key_name(kv::hearth_ffn_activation), act);
  w.set_u64(key_name(kv::hearth_calibration_corpus_hash), c.corpus_hash);
  w.set_u64(key_name(kv::hearth_calibration_profiled_tokens), (uint64_t)c.tokens);
  std::vector<float> sparsity;
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    w.set_arr_f32(key_name(kv::hearth_calibration_frequency, {}, l), c.frequency[(size_t)l]);
    w.set_arr_f32(key_name(kv::hearth_calibration_expert_frequency, {}, l), c.expert_frequency[(size_t)l]);
    double fired = 0, chosen = 0;  // the share of a chosen expert's neurons that fire, over the choices
    for (int64_t e = 0; e < E; ++e)
      for (int64_t i = 0; i < ff; ++i) {
        fired += (double)c.expert_frequency[(size_t)l][(size_t)e] * c.frequency[(size_t)l][(size_t)(e * ff + i)];
        chosen += (double)c.expert_frequency[(size_t)l][(size_t)e];
      }
    sparsity.push_back(chosen > 0 ? (float)(1.0 - fired / chosen) : 0.0f);
  }
  w.set_arr_f32(key_name(kv::hearth_calibration_sparsity), sparsity);
  std::vector<std::string> notes;
  for (const gguf_tensor &t : src.tensors()) {
    const int32_t l = tensor_layer(t.name);
    if (l >= 0 && t.name == tensor_name(tensor::ffn_down_exps, l)) {
      const ffn_weights &e0 = m.layers()[(size_t)l].moe.experts[0];
      if (e0.down_t) fail(HEARTH_ERR_INVALID_ARGUMENT, "the experts' down projections are already neuron-major: calibrate a llama.cpp-layout file");
      const dtype from = t.type, to = cfg.down_type_set ? cfg.down_type : cfg.convert_weights ? cfg.weight_type : from;
      if (d % traits(to).block_elems) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_embd is not a multiple of {}'s block", type_name(to)));
      if (l == 0 && traits(from).block_elems > 1)
        notes.push_back(fmt::format("ffn_down_exps is {}, whose blocks run along the rows being transposed: it was requantized "
                                    "({} -> float -> {})", type_name(from), type_name(from), type_name(to)));
      const gguf_tensor *tp = &t;
      w.add_tensor(t.name, to, {d, ff, E}, [tp, d, ff, E, to](uint8_t *dst, size_t) {
        // per expert: n_embd rows of n_ff -> n_ff rows of n_embd
        const size_t irb = row_bytes(tp->type, ff), orb = row_bytes(to, d);
        std::vector<float> all((size_t)(d * ff)), row((size_t)d);
        for (int64_t e = 0; e < E; ++e) {
          for (int64_t r = 0; r < d; ++r) dequantize_row(tp->type, tp->data + (size_t)(e * d + r) * irb, all.data() + r * ff, ff);
          for (int64_t i = 0; i < ff; ++i) {
            for (int64_t r = 0; r < d; ++r) row[(size_t)r] = all[(size_t)(r * ff + i)];
            quantize_row(to, row.data(), dst + (size_t)(e * ff + i) * orb, d);
          }
        }
      });
      continue;
    }
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    const gguf_tensor *tp = &t;
    w.add_tensor(t.name, t.type, ne, [tp](uint8_t *dst, size_t) { std::memcpy(dst, tp->data, tp->size); });
  }
  write_calibration_notes(w, notes);
  w.write(path, [&](size_t done, size_t total) { return !progress || progress("write", (int64_t)done, (int64_t)total); });
}

}  // namespace hearth
