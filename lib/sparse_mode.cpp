#include "sparse_mode.h"

#include <string>

#include "error.h"
#include "model.h"

namespace hearth {

const char *sparse_mode_name(sparse_mode m) {
  switch (m) {
    case sparse_mode::dense: return "dense";
    case sparse_mode::predictor: return "sparse (predictor)";
    case sparse_mode::exact_gate: return "sparse (exact gate)";
    case sparse_mode::cats: return "sparse (CATS)";
  }
  return "?";
}

sparse_mode resolve_sparse_mode(int32_t requested, const model &m, bool on_gpu) {
  const ffn_form &f = m.hp().block.ffn;
  switch (requested) {
    case 0:
      if (m.has_predictors()) return sparse_mode::predictor;
      if (on_gpu) return sparse_mode::dense;  // the hybrid executor runs predictor or dense FFNs
      if (f.relu_family() && m.neuron_major()) return sparse_mode::exact_gate;
      return sparse_mode::dense;
    case (int32_t)sparse_mode::dense: return sparse_mode::dense;
    case (int32_t)sparse_mode::predictor:
      if (!m.has_predictors())
        fail(HEARTH_ERR_UNSUPPORTED, "predictor mode needs a PowerInfer file with fc1/fc2 predictors and ffn_down_t in every layer");
      return sparse_mode::predictor;
    case (int32_t)sparse_mode::exact_gate:
      if (!f.relu_family())
        fail(HEARTH_ERR_UNSUPPORTED, "exact-gate mode needs a ReLU-family FFN (ReGLU, dReLU or ReLU); this model's is " + f.name() + " (try CATS)");
      return sparse_mode::exact_gate;
    case (int32_t)sparse_mode::cats:
      if (f.relu_family()) fail(HEARTH_ERR_UNSUPPORTED, "CATS mode is for SiLU/GELU-gated models; ReLU-family models have the exact-gate mode");
      if (!f.gated) fail(HEARTH_ERR_UNSUPPORTED, "CATS mode thresholds the gate; this model's FFN (" + f.name() + ") has none");
      return sparse_mode::cats;
    default:
      fail(HEARTH_ERR_INVALID_ARGUMENT, "unknown sparse mode " + std::to_string(requested));
  }
}

}  // namespace hearth
