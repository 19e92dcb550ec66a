#include "calibrate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "log.h"
#include "names.h"
#include "quantize.h"

namespace hearth {
namespace {

bool is_weight_matrix(const gguf_tensor &t) { return t.n_dims == 2 && t.name.size() > 7 && t.name.ends_with(".weight"); }

}  // namespace

uint64_t fnv1a64(const void *data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto *p = (const unsigned char *)data;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

global_threshold choose_global_threshold(const std::vector<trained_predictor> &ps) {
  global_threshold best;
  if (ps.empty()) return best;
  // Decisions that differ between t and layer l's own threshold: the layer's logits in [min, max) of the two,
  // estimated from its ascending sample of validation logits.
  auto flips = [&](float t) {
    double f = 0;
    for (const trained_predictor &p : ps) {
      if (p.val_logits.empty()) continue;
      const float lo = std::min(t, p.threshold), hi = std::max(t, p.threshold);
      const auto a = std::lower_bound(p.val_logits.begin(), p.val_logits.end(), lo);
      const auto b = std::lower_bound(p.val_logits.begin(), p.val_logits.end(), hi);
      f += (double)(b - a) / (double)p.val_logits.size() * (double)p.val_decisions;
    }
    return f;
  };
  double total = 0;
  float lo = ps[0].threshold, hi = lo;
  std::vector<float> candidates;
  for (const trained_predictor &p : ps) {
    total += (double)p.val_decisions;
    lo = std::min(lo, p.threshold), hi = std::max(hi, p.threshold);
    candidates.push_back(p.threshold);
  }
  for (int k = 1; k < 512; ++k) candidates.push_back(lo + (hi - lo) * (float)k / 512.0f);
  double best_flips = -1;
  for (float t : candidates) {
    const double f = flips(t);
    if (best_flips < 0 || f < best_flips) best_flips = f, best.threshold = t;
  }
  best.agreement = total > 0 ? 1.0 - best_flips / total : 1.0;
  return best;
}

void write_calibration_notes(gguf_writer &w, const std::vector<std::string> &notes) {
  if (notes.empty()) return;
  std::string all;
  for (const std::string &n : notes) {
    all += (all.empty() ? "" : "; ") + n;
    log(HEARTH_LOG_WARN, "calibrate: {}", n);
  }
  w.set_str(key_name(kv::hearth_calibration_notes), all);
}

uint64_t output_ffn_bytes(const model &m, const calibrate_config &cfg, int32_t l) {
  const layer &L = m.layers()[(size_t)l];
  const hparams &hp = m.hp();
  auto bytes = [&](const matrix &w) { return w ? row_bytes(cfg.convert_weights ? cfg.weight_type : w.type, w.cols) * (size_t)w.rows : 0; };
  const dtype down_src = L.down ? L.down.type : L.down_t.type;
  const dtype down_to = cfg.down_type_set ? cfg.down_type : cfg.convert_weights ? cfg.weight_type : down_src;
  return bytes(L.gate) + bytes(L.up) + row_bytes(down_to, hp.n_embd) * (size_t)hp.n_ff;
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
  m.tok().encode(corpus, true, false, tokens);
  c.corpus_tokens = (int64_t)tokens.size();
  if (tokens.size() < 16) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("the calibration text gave {} tokens; at least 16 are needed", tokens.size()));
  c.profile = profile_activations(m, tokens, cfg.profile, [&](int64_t d, int64_t t) { return !progress || progress("profile", d, t); });
  const hparams &hp = m.hp();
  trainer_config tc = cfg.trainer;
  // fc2 rows are rank long: every rank tried is a whole number of the predictor type's blocks
  tc.rank_multiple = std::max<int32_t>(tc.rank_multiple, blk);
  // thresholds, recall and precision come from the weights as they will be stored
  tc.predictor_type = cfg.predictor_type;
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
    return k.starts_with(k_calibration_prefix) || k == key_name(kv::hearth_sparse_thresholds) ||
           k == key_name(kv::hearth_ffn_activation) || k == key_name(kv::powerinfer_sparse_threshold) ||
           k == key_name(kv::general_alignment);
  };
  for (const gguf_kv &kv : src.kvs())
    if (!ours(kv.key)) w.set_value(kv.key, kv.value);
  const char *act = ffn_form_key(hp.block.ffn);
  if (!act) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("no {} value names the {} FFN", key_name(kv::hearth_ffn_activation), hp.block.ffn.family()));
  w.set_str(key_name(kv::hearth_ffn_activation), act);
  // hearth reads the per-layer thresholds; PowerInfer reads only one global threshold, chosen so that its masks
  // agree with the per-layer ones on as many (token, neuron) decisions as possible (docs/calibration.md).
  const global_threshold g = choose_global_threshold(c.predictors);
  w.set_f32(key_name(kv::powerinfer_sparse_threshold), g.threshold);
  w.set_f32(key_name(kv::hearth_calibration_global_threshold_agreement), (float)g.agreement);
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
  w.set_arr_f32(key_name(kv::hearth_sparse_thresholds), thr);
  w.set_u64(key_name(kv::hearth_calibration_corpus_hash), c.corpus_hash);
  w.set_u64(key_name(kv::hearth_calibration_corpus_tokens), (uint64_t)c.corpus_tokens);
  w.set_u64(key_name(kv::hearth_calibration_profiled_tokens), (uint64_t)c.profile.tokens);
  w.set_u64(key_name(kv::hearth_calibration_seed), cfg.trainer.seed);
  w.set_u64(key_name(kv::hearth_calibration_samples_per_layer), c.profile.samples.empty() ? 0 : (uint64_t)c.profile.samples[0].n);
  w.set_f32(key_name(kv::hearth_calibration_target_recall), (float)cfg.trainer.target_recall);
  w.set_arr_f32(key_name(kv::hearth_calibration_sparsity), sparsity);
  w.set_arr_f32(key_name(kv::hearth_calibration_skewness), skew);
  w.set_arr_i32(key_name(kv::hearth_calibration_predictor_rank), rank);
  w.set_arr_f32(key_name(kv::hearth_calibration_recall), recall);
  w.set_arr_f32(key_name(kv::hearth_calibration_precision), precision);
  w.set_arr_i32(key_name(kv::hearth_calibration_predictor_bytes), pbytes);
  // Per-layer activation frequencies. They are metadata arrays, not tensors: PowerInfer's loader (llama.cpp of
  // late 2023) rejects a file whose tensor count differs from the tensors it creates.
  for (int32_t l = 0; l < L; ++l) w.set_arr_f32(key_name(kv::hearth_calibration_frequency, {}, l), c.profile.frequency(l));
  const gguf_tensor *first_down = src.tensor(tensor_name(tensor::ffn_down, 0));
  const dtype down_src = first_down ? first_down->type : dtype::f16;
  const dtype down_to = cfg.down_type_set ? cfg.down_type : cfg.convert_weights ? cfg.weight_type : down_src;
  std::vector<std::string> notes = c.notes;
  if (traits(down_src).block_elems > 1)
    notes.push_back(fmt::format("ffn_down is {}, whose blocks run along the rows being transposed: ffn_down_t was "
                                "requantized ({} -> float -> {})", type_name(down_src), type_name(down_src), type_name(down_to)));
  else if (down_to != down_src)
    notes.push_back(fmt::format("ffn_down_t converted from {} to {}", type_name(down_src), type_name(down_to)));
  if (cfg.convert_weights) {  // only what actually changes type is a conversion
    size_t converted = 0;
    for (const gguf_tensor &t : src.tensors()) converted += is_weight_matrix(t) && t.type != cfg.weight_type;
    if (converted) notes.push_back(fmt::format("{} 2-D weights converted to {}", converted, type_name(cfg.weight_type)));
  }
  write_calibration_notes(w, notes);

  auto add_copy = [&](const gguf_tensor &t) {
    const bool convert = cfg.convert_weights && is_weight_matrix(t) && t.type != cfg.weight_type;
    const dtype to = convert ? cfg.weight_type : t.type;
    if (convert && t.ne[0] % traits(to).block_elems)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("{} has rows of {}, not a multiple of {}'s block", t.name, t.ne[0], type_name(to)));
    if (convert && !traits(t.type).computable) fail(HEARTH_ERR_UNSUPPORTED, fmt::format("{}: cannot convert from {}", t.name, type_name(t.type)));
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    const gguf_tensor *tp = &t;
    w.add_tensor(t.name, to, ne, [tp, to](uint8_t *dst, size_t) { convert_tensor(*tp, to, dst); });
  };
  for (const gguf_tensor &t : src.tensors()) {
    // Layer tensors are written in the source's order; a layer's predictor follows its ffn_down_t.
    if (t.name.starts_with("blk.") && t.name.ends_with(".ffn_down.weight")) {  // tensor_name(tensor::ffn_down, l)
      const int32_t l = std::atoi(t.name.c_str() + 4);
      if (l < 0 || l >= L || t.n_dims != 2 || t.ne[0] != ff || t.ne[1] != d)
        fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{} has shape {}, expected [{}, {}]", t.name, t.shape(), ff, d));
      if (d % traits(down_to).block_elems) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("n_embd is not a multiple of {}'s block", type_name(down_to)));
      const gguf_tensor *tp = &t;
      w.add_tensor(tensor_name(tensor::ffn_down_t, l), down_to, {d, ff}, [tp, d, ff, down_to](uint8_t *dst, size_t) {
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
      w.add_tensor(tensor_name(tensor::fc1, l), pt, {d, p.rank}, [pp, pt, d](uint8_t *dst, size_t) {
        for (int64_t r = 0; r < pp->rank; ++r) quantize_row(pt, pp->fc1.data() + r * d, dst + r * row_bytes(pt, d), d);
      });
      w.add_tensor(tensor_name(tensor::fc2, l), pt, {p.rank, ff}, [pp, pt, ff](uint8_t *dst, size_t) {
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

}  // namespace hearth
