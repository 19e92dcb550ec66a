// `hearth calibrate` for a mixture of experts: how often the router chooses each expert and, per expert, how
// often each of its neurons fires among the tokens that chose it, measured by running the model densely over a
// corpus; and the calibrated file: the same weights with each expert's down projection stored neuron-major
// (PowerInfer's SmallThinker shape: ffn_down_exps with up's shape, so the exact gate skips the down rows of the
// neurons that are zero) and both frequencies recorded for the placement (hearth.calibration.frequency.N, n_expert
// x n_ff expert-major; hearth.calibration.expert_frequency.N). No predictors are trained for experts (yet).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "calibrate.h"
#include "model.h"

namespace hearth {

struct expert_calibration {
  int64_t tokens = 0;
  uint64_t corpus_hash = 0;
  std::vector<std::vector<float>> expert_frequency;  // per layer, n_expert: share of tokens that chose each expert
  std::vector<std::vector<float>> frequency;         // per layer, n_expert x n_ff: firing share among its tokens
};

expert_calibration calibrate_experts(const model &m, const std::string &corpus, const calibrate_config &cfg,
                                     const calibrate_progress &progress = nullptr);
void write_calibrated_experts(const model &m, const expert_calibration &c, const calibrate_config &cfg,
                              const std::string &path, const calibrate_progress &progress = nullptr);

}  // namespace hearth
