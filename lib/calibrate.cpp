#include "calibrate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "log.h"

namespace hearth {
namespace {

const char *activation_key(ffn_kind k) {
  switch (k) {
    case ffn_kind::silu_gated: return "silu";
    case ffn_kind::relu_gated: return "relu";
    case ffn_kind::drelu: return "drelu";
    case ffn_kind::relu: return "relu_nogate";
  }
  return "silu";
}

// Rows of a tensor as floats -> quantized to `to` (the same bytes when the types match).
void convert_rows(const gguf_tensor &t, dtype to, uint8_t *dst) {
  const int64_t cols = t.ne[0], rows = t.n_rows();
  if (t.type == to) {
    std::memcpy(dst, t.data, t.size);
    return;
  }
  std::vector<float> row((size_t)cols);
  const size_t src_rb = row_bytes(t.type, cols), dst_rb = row_bytes(to, cols);
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(t.type, t.data + r * src_rb, row.data(), cols);
    quantize_row(to, row.data(), dst + r * dst_rb, cols);
  }
}

bool is_weight_matrix(const gguf_tensor &t) { return t.n_dims == 2 && t.name.size() > 7 && t.name.ends_with(".weight"); }

}  // namespace

uint64_t fnv1a64(const void *data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto *p = (const unsigned char *)data;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

calibration calibrate_model(const model &m, const std::string &corpus, const calibrate_config &cfg,
                            const calibrate_progress &progress) {
  const int32_t blk = (int32_t)traits(cfg.predictor_type).block_elems;
  if (cfg.trainer.fixed_rank > 0 && cfg.trainer.fixed_rank % blk)  // refused before the long profile, not after
    fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("predictor rank {} is not a multiple of {}'s block of {}", cfg.trainer.fixed_rank,
                                                  type_name(cfg.predictor_type), blk));
  calibration c;
  c.corpus_hash = fnv1a64(corpus.data(), corpus.size());
  std::vector<int32_t> tokens;
  m.vocab().encode(corpus, true, false, tokens);
  c.corpus_tokens = (int64_t)tokens.size();
  if (tokens.size() < 16) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("the calibration text gave {} tokens; at least 16 are needed", tokens.size()));
  c.profile = profile_activations(m, tokens, cfg.profile, [&](int64_t d, int64_t t) { return !progress || progress("profile", d, t); });
  const hparams &hp = m.hp();
  trainer_config tc = cfg.trainer;
  // fc2 rows are rank long: every rank tried is a whole number of the predictor type's blocks
  tc.rank_multiple = std::max<int32_t>(tc.rank_multiple, blk);
  c.predictors = train_predictors(c.profile, hp.n_embd, hp.n_ff, tc, [&](int64_t d, int64_t t) { return !progress || progress("train", d, t); });
  return c;
}

void write_calibrated_model(const model &m, const calibration &c, const calibrate_config &cfg, const std::string &path,
                            const calibrate_progress &progress) {
  const gguf_file &src = m.file();
  const hparams &hp = m.hp();
  const int64_t d = hp.n_embd, ff = hp.n_ff;
  const int32_t L = hp.n_layer;
  if ((int32_t)c.predictors.size() != L) fail(HEARTH_ERR_INVALID_ARGUMENT, "one predictor per layer is needed");
  gguf_writer w;
  w.set_pwri(true);
  // Every key of the source, except the ones rewritten below.
  auto ours = [](std::string_view k) {
    return k.starts_with("hearth.calibration.") || k == "hearth.sparse_thresholds" || k == "hearth.ffn_activation" ||
           k == "powerinfer.sparse_threshold" || k == "general.alignment";
  };
  for (const gguf_kv &kv : src.kvs())
    if (!ours(kv.key)) w.set_value(kv.key, kv.value);
  w.set_str("hearth.ffn_activation", activation_key(hp.ffn));
  // PowerInfer's one threshold stays at its default; hearth's per-layer thresholds were chosen for the recall target.
  w.set_f32("powerinfer.sparse_threshold", 0.0f);
  std::vector<float> thr, sparsity, skew, recall, precision;
  std::vector<int32_t> rank, pbytes;
  for (const trained_predictor &p : c.predictors) {
    thr.push_back(p.threshold);
    sparsity.push_back((float)p.sparsity);
    skew.push_back((float)p.skew);
    recall.push_back((float)p.recall);
    precision.push_back((float)p.precision);
    rank.push_back(p.rank);
    pbytes.push_back((int32_t)(row_bytes(cfg.predictor_type, d) * (size_t)p.rank + row_bytes(cfg.predictor_type, p.rank) * (size_t)ff));
  }
  w.set_arr_f32("hearth.sparse_thresholds", thr);
  w.set_u64("hearth.calibration.corpus_fnv1a64", c.corpus_hash);
  w.set_u64("hearth.calibration.corpus_tokens", (uint64_t)c.corpus_tokens);
  w.set_u64("hearth.calibration.profiled_tokens", (uint64_t)c.profile.tokens);
  w.set_u64("hearth.calibration.seed", cfg.trainer.seed);
  w.set_u64("hearth.calibration.samples_per_layer", c.profile.samples.empty() ? 0 : (uint64_t)c.profile.samples[0].n);
  w.set_f32("hearth.calibration.target_recall", (float)cfg.trainer.target_recall);
  w.set_arr_f32("hearth.calibration.sparsity", sparsity);
  w.set_arr_f32("hearth.calibration.skewness", skew);
  w.set_arr_i32("hearth.calibration.predictor_rank", rank);
  w.set_arr_f32("hearth.calibration.recall", recall);
  w.set_arr_f32("hearth.calibration.precision", precision);
  w.set_arr_i32("hearth.calibration.predictor_bytes", pbytes);
  // Per-layer activation frequencies. They are metadata arrays, not tensors: PowerInfer's loader (llama.cpp of
  // late 2023) rejects a file whose tensor count differs from the tensors it creates.
  for (int32_t l = 0; l < L; ++l) w.set_arr_f32(fmt::format("hearth.calibration.frequency.{}", l), c.profile.frequency(l));
  const gguf_tensor *first_down = src.tensor("blk.0.ffn_down.weight");
  const dtype down_src = first_down ? first_down->type : dtype::f16;
  const dtype down_to = cfg.down_type_set ? cfg.down_type : cfg.convert_weights ? cfg.weight_type : down_src;
  std::vector<std::string> notes = c.notes;
  if (traits(down_src).block_elems > 1)
    notes.push_back(fmt::format("ffn_down is {}, whose blocks run along the rows being transposed: ffn_down_t was "
                                "requantized ({} -> float -> {})", type_name(down_src), type_name(down_src), type_name(down_to)));
  else if (down_to != down_src)
    notes.push_back(fmt::format("ffn_down_t converted from {} to {}", type_name(down_src), type_name(down_to)));
  if (cfg.convert_weights) notes.push_back(fmt::format("2-D weights converted to {}", type_name(cfg.weight_type)));
  if (!notes.empty()) {
    std::string all;
    for (const std::string &n : notes) {
      all += (all.empty() ? "" : "; ") + n;
      log(HEARTH_LOG_WARN, "calibrate: {}", n);
    }
    w.set_str("hearth.calibration.notes", all);
  }

  auto add_copy = [&](const gguf_tensor &t) {
    const bool convert = cfg.convert_weights && is_weight_matrix(t) && t.type != cfg.weight_type;
    const dtype to = convert ? cfg.weight_type : t.type;
    if (convert && t.ne[0] % traits(to).block_elems)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{} has rows of {}, not a multiple of {}'s block", t.name, t.ne[0], type_name(to)));
    if (convert && !traits(t.type).computable) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("{}: cannot convert from {}", t.name, type_name(t.type)));
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    const gguf_tensor *tp = &t;
    w.add_tensor(t.name, to, ne, [tp, to](uint8_t *dst, size_t) { convert_rows(*tp, to, dst); });
  };
  for (const gguf_tensor &t : src.tensors()) {
    // Layer tensors are written in the source's order; a layer's predictor follows its ffn_down_t.
    if (t.name.starts_with("blk.") && t.name.ends_with(".ffn_down.weight")) {
      const int32_t l = std::atoi(t.name.c_str() + 4);
      if (l < 0 || l >= L || t.n_dims != 2 || t.ne[0] != ff || t.ne[1] != d)
        fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{} has shape {}, expected [{}, {}]", t.name, t.shape(), ff, d));
      if (d % traits(down_to).block_elems) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_embd is not a multiple of {}'s block", type_name(down_to)));
      const gguf_tensor *tp = &t;
      w.add_tensor(fmt::format("blk.{}.ffn_down_t.weight", l), down_to, {d, ff}, [tp, d, ff, down_to](uint8_t *dst, size_t) {
        // n_embd rows of n_ff -> n_ff rows of n_embd
        std::vector<float> all((size_t)(d * ff)), row((size_t)d);
        const size_t rb = row_bytes(tp->type, ff);
        for (int64_t r = 0; r < d; ++r) dequantize_row(tp->type, tp->data + r * rb, all.data() + r * ff, ff);
        const size_t orb = row_bytes(down_to, d);
        for (int64_t i = 0; i < ff; ++i) {
          for (int64_t r = 0; r < d; ++r) row[(size_t)r] = all[(size_t)(r * ff + i)];
          quantize_row(down_to, row.data(), dst + i * orb, d);
        }
      });
      const trained_predictor &p = c.predictors[(size_t)l];
      const dtype pt = cfg.predictor_type;
      const trained_predictor *pp = &p;
      w.add_tensor(fmt::format("blk.{}.fc1.weight", l), pt, {d, p.rank}, [pp, pt, d](uint8_t *dst, size_t) {
        for (int64_t r = 0; r < pp->rank; ++r) quantize_row(pt, pp->fc1.data() + r * d, dst + r * row_bytes(pt, d), d);
      });
      w.add_tensor(fmt::format("blk.{}.fc2.weight", l), pt, {p.rank, ff}, [pp, pt, ff](uint8_t *dst, size_t) {
        for (int64_t i = 0; i < ff; ++i) quantize_row(pt, pp->fc2.data() + i * pp->rank, dst + i * row_bytes(pt, pp->rank), pp->rank);
      });
      continue;
    }
    if (t.name.ends_with(".ffn_down_t.weight") || t.name.ends_with(".fc1.weight") || t.name.ends_with(".fc2.weight"))
      fail(HEARTH_ERR_INVALID_ARGUMENT, "the model already has predictors or ffn_down_t: calibrate a dense llama.cpp-layout file");
    add_copy(t);
  }
  w.write(path, [&](size_t done, size_t total) { return !progress || progress("write", (int64_t)done, (int64_t)total); });
}

}  // namespace hearth

namespace hearth {

double rank_correlation(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size() || a.size() < 2) return 0.0;
  auto ranks = [](const std::vector<float> &v) {
    std::vector<size_t> idx(v.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {
      size_t j = i;
      while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
      for (size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * (double)(i + j);
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = (double)a.size(), mean = (n - 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

std::vector<float> metadata_floats(const gguf_file &f, const std::string &key) {
  const gguf_value *v = f.find(key);
  if (!v || v->type != gguf_type::array || v->arr_type != gguf_type::f32) return {};
  std::vector<float> out((size_t)v->arr_count);
  for (uint64_t i = 0; i < v->arr_count; ++i) out[(size_t)i] = v->arr<float>(i);
  return out;
}

placement_input placement_input_for(const model &m, uint64_t budget, int32_t n_ctx) {
  const hparams &hp = m.hp();
  placement_input in;
  in.budget = budget;
  in.output_bytes = m.output() ? m.output().bytes() : m.tok_embd().bytes();
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const layer &L = m.layers()[(size_t)l];
    placement_layer_input li;
    li.frequency = metadata_floats(m.file(), fmt::format("hearth.calibration.frequency.{}", l));
    if (li.frequency.empty())  // a synthetic model's planted frequencies stand in for a calibration
      li.frequency = metadata_floats(m.file(), fmt::format("hearth.synthetic.frequency.{}", l));
    if ((int32_t)li.frequency.size() != hp.n_ff) li.frequency.assign((size_t)hp.n_ff, 1.0f);
    li.neuron_bytes = L.up.row_size + (L.gate ? L.gate.row_size : 0) + (L.down_t ? L.down_t.row_size : 0);
    if (!L.down_t && L.down) li.neuron_bytes += L.down.bytes() / (uint64_t)hp.n_ff;  // a column of row-major down
    li.dense_bytes = L.wq.bytes() + L.wk.bytes() + L.wv.bytes() + L.wo.bytes() + (L.fc1 ? L.fc1.bytes() + L.fc2.bytes() : 0) +
                     (uint64_t)2 * hp.n_embd * sizeof(float) + (uint64_t)2 * hp.n_embd_kv() * sizeof(float) * (uint64_t)n_ctx;
    in.layers.push_back(std::move(li));
  }
  return in;
}

}  // namespace hearth
