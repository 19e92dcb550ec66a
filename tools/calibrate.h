// `hearth calibrate`: profile a dense ReLU-family model on a corpus, train predictors, and write a PowerInfer PWRI
// file (neuron-major ffn_down_t, fc1/fc2, powerinfer.sparse_threshold) with hearth's calibration record under
// hearth.* keys. Deterministic: the same model, text, options and seed give a byte-identical file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "model.h"
#include "placement.h"
#include "predictor_trainer.h"
#include "profiler.h"
#include "dtype.h"

namespace hearth {

struct calibrate_config {
  profile_config profile;
  trainer_config trainer;
  bool convert_weights = false;  // requantize every 2-D weight to weight_type (else copied as they are)
  dtype weight_type = dtype::f16;
  bool down_type_set = false;    // ffn_down_t's type; default: the source ffn_down's type
  dtype down_type = dtype::f16;
  dtype predictor_type = dtype::q8_0;
};

struct calibration {
  activation_profile profile;
  std::vector<trained_predictor> predictors;
  uint64_t corpus_hash = 0;  // FNV-1a 64 of the corpus bytes
  int64_t corpus_tokens = 0;
  std::vector<std::string> notes;  // what was converted or requantized
};

// Stage callbacks: stage name, done, total; false cancels.
using calibrate_progress = std::function<bool(const char *stage, int64_t done, int64_t total)>;

calibration calibrate_model(const model &m, const std::string &corpus, const calibrate_config &cfg,
                            const calibrate_progress &progress = nullptr);
void write_calibrated_model(const model &m, const calibration &c, const calibrate_config &cfg, const std::string &path,
                            const calibrate_progress &progress = nullptr);

uint64_t fnv1a64(const void *data, size_t n);
// What a calibration converted or requantized: logged as warnings and kept as hearth.calibration.notes.
void write_calibration_notes(gguf_writer &w, const std::vector<std::string> &notes);

// PowerInfer reads one sparse threshold for every layer. The value whose masks agree with the per-layer
// thresholds' on most (token, neuron) decisions, from the predictors' validation logits, and that agreement.
struct global_threshold {
  float threshold = 0.0f;
  double agreement = 1.0;  // share of decisions equal to the per-layer thresholds'
};
global_threshold choose_global_threshold(const std::vector<trained_predictor> &predictors);

// Weight bytes of layer l's FFN (gate, up, ffn_down_t) as the calibrated file stores them (its output types).
uint64_t output_ffn_bytes(const model &m, const calibrate_config &cfg, int32_t l);

}  // namespace hearth

namespace hearth {

// Spearman's rank correlation (ties get their average rank).
double rank_correlation(const std::vector<float> &a, const std::vector<float> &b);

}  // namespace hearth
