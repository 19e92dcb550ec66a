// The model's part in VRAM, decided at load: which layers' attention unit (norms, Q/K/V/O, biases, predictor;
// their KV cache lives in each session) and which hot FFN neurons go to the GPU under the budget. Hot rows of
// gate, up and ffn_down_t are packed compactly (the GPU table maps compact row -> original neuron id); cold rows
// stay in the memory map. Immutable after load and shared by every session of the model, like the model itself.
//
// Modes: hybrid (the placement solver, or a PowerInfer .gpuidx, over neurons and attention units), layers (whole
// layers in order until the budget is used, then the output matrix: llama.cpp's -ngl, the dense baseline), and
// attention (attention units only: the baseline of llama.cpp's MoE offload, experts on the CPU). In a mixture of
// experts a layer's neurons are its experts' (expert-major), each weighted by how often its expert is chosen;
// the router and the shared expert stay on the CPU.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "model.h"
#include "neuron_table.h"
#include "offload_config.h"
#include "placement.h"

namespace hearth {

// Norm weights in device memory (bias null for RMS norms or a LayerNorm without one).
struct dev_norm {
  const float *w = nullptr, *b = nullptr;
  explicit operator bool() const { return w != nullptr; }
};

// One expert's part on the GPU (a mixture-of-experts layer): its hot rows packed, or all of them (whole: layers
// mode; a row-major expert then keeps its down projection whole).
struct offload_expert {
  int32_t n_hot = 0;
  dev_matrix gate, up, down_t;      // the hot rows, packed
  dev_matrix down;                  // row-major down, only when the whole expert is on the GPU
  const int32_t *orig = nullptr;    // n_hot: compact row -> the expert's neuron id
};

struct offload_layer {
  bool attention = false;  // the attention unit (norms, Q/K/V/O, biases, Q/K norms, predictor) is on the GPU
  dev_matrix wq, wk, wv, wo, fc1, fc2;
  dev_norm attn_norm, q_norm, k_norm, ffn_norm;  // ffn_norm: the norm the FFN's input takes (ffn_input_norm)
  dev_norm attn_post_norm, ffn_post_norm;        // Gemma's norms on the attention's and the FFN's outputs
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;
  int32_t n_hot = 0;                // GPU neurons
  dev_matrix gate, up, down_t;      // their rows, packed (down_t absent when down is: a row-major file)
  dev_matrix down;                  // row-major ffn_down, only when the whole FFN is on the GPU
  const float *bgate = nullptr, *bup = nullptr;  // their biases, packed like the rows
  const float *bdown = nullptr;                   // the down projection's bias (added once, where the halves merge)
  const int32_t *orig = nullptr;    // n_hot: compact row -> original neuron id
  const int32_t *row_of = nullptr;  // n_ff: original id -> compact row, or -1
  uint64_t neuron_bytes = 0;        // weight bytes of one neuron's rows
  std::vector<offload_expert> experts;  // a mixture's experts (empty for a dense FFN)
};

class offload {
 public:
  // nullptr when nothing goes to the GPU (mode none, no usable device, a failed allocation, a budget too small),
  // with the reason logged (a warning when a GPU mode was asked for explicitly). Throws only for bad input
  // (an unreadable .gpuidx, a budget larger than the device).
  static std::unique_ptr<offload> create(const model &m, const offload_config &cfg);
  ~offload();

  device &dev() const { return *dev_; }
  offload_mode mode() const { return mode_; }
  const std::vector<offload_layer> &layers() const { return layers_; }
  const neuron_table &table(int32_t il) const { return tables_[(size_t)il]; }
  // A mixture's layer: expert e's rows (tables(il)[e]); the layer's table() then spans its experts' neurons,
  // expert-major (id e * n_ff + i), as the placement sees them.
  const std::vector<neuron_table> &expert_tables(int32_t il) const { return expert_tables_[(size_t)il]; }
  uint64_t n_neurons() const;  // FFN neurons of the model, as the placement counts them (experts' included)
  bool output_on_gpu() const { return bool(output_); }
  const dev_matrix &output() const { return output_; }
  const dev_norm &output_norm() const { return output_norm_; }
  uint64_t weight_bytes() const { return weight_bytes_; }  // VRAM taken by weights
  uint64_t budget() const { return budget_; }
  int32_t n_attention_layers() const;  // layers whose attention unit is on the GPU
  uint64_t n_hot_neurons() const;      // GPU neurons over all layers
  const placement &plan() const { return plan_; }
  std::string describe() const;

 private:
  offload() = default;
  void upload(const model &m);
  const void *put(const void *host, size_t bytes);  // nullptr on failure
  const float *put(const std::vector<float> &v) { return v.empty() ? nullptr : (const float *)put(v.data(), v.size() * 4); }
  dev_norm put(const norm_weights &n) { return {put(n.w), put(n.b)}; }
  dev_matrix put_rows(const matrix &w, const std::vector<int32_t> &rows);  // rows empty = all

  std::unique_ptr<device> dev_;
  offload_mode mode_ = offload_mode::hybrid;
  std::vector<device_buffer> buffers_;
  std::vector<offload_layer> layers_;
  std::vector<neuron_table> tables_;
  std::vector<std::vector<neuron_table>> expert_tables_;
  dev_matrix output_;
  dev_norm output_norm_;
  uint64_t weight_bytes_ = 0, budget_ = 0;
  bool failed_ = false;
  placement plan_;
};

// The placement problem for a model: per-layer frequencies from its calibration record (a synthetic model's
// planted ones if it has none, else all 1), each neuron's exact bytes (gate + up + down rows at their types), each
// layer's attention unit and an n_ctx-token KV cache of kv_bytes per value, and the output matrix.
placement_input placement_input_for(const model &m, uint64_t budget, int32_t n_ctx, size_t kv_bytes = sizeof(float));
// The frequencies a placement uses for layer il (calibration record, synthetic record, or empty); a mixture's
// are its experts' neurons, expert-major, each given the expert's use, with how often each expert is chosen
// (hearth.calibration.expert_frequency.N, or the synthetic record) beside them.
std::vector<float> recorded_frequencies(const gguf_file &f, int32_t il);
std::vector<float> recorded_expert_frequencies(const gguf_file &f, int32_t il);

}  // namespace hearth
