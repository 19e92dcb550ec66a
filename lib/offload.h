// The model's part in VRAM, decided at load: which layers' dense tensors (attention, norms, predictor; their KV
// cache lives in each session) and which hot FFN neurons go to the GPU under the budget. Hot rows of gate, up and
// ffn_down_t are packed compactly (the GPU table maps compact row -> original neuron id); cold rows stay in the
// memory map. Immutable after load and shared by every session of the model, like the model itself.
//
// Modes: hybrid (the placement solver, or a PowerInfer .gpuidx, over neurons and dense units) and layers (whole
// layers in order until the budget is used, then the output matrix: llama.cpp's -ngl, the dense baseline).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "model.h"
#include "neuron_table.h"
#include "placement.h"

namespace hearth {

enum class offload_mode { none = 1, hybrid = 2, layers = 3 };  // 0 = auto in offload_config
const char *offload_mode_name(offload_mode m);

struct offload_config {
  int32_t mode = 0;          // 0 auto (hybrid when a GPU is usable), else an offload_mode value
  uint64_t budget = 0;       // VRAM bytes; 0 = the device's free memory minus a margin
  std::string gpuidx;        // PowerInfer .gpuidx to take the neuron split from ("" = solve)
  int32_t n_ctx = 0;         // context the KV cache of GPU layers is sized for (0 = the session default)
  // The solver's cost model (0: its defaults, 20 GB/s host, 1 TB/s device, 20 us per synchronisation): the
  // bandwidths decide what is worth moving, the sync time the fewest neurons worth a layer's round trip (C_l).
  double cpu_bandwidth = 0, gpu_bandwidth = 0, sync_seconds = 0;
  std::function<std::unique_ptr<device>(std::string *why)> open = open_device;  // tests give their own device
};

struct offload_layer {
  bool dense = false;               // attention, norms and predictor on the GPU
  dev_matrix wq, wk, wv, wo, fc1, fc2;
  const float *attn_norm = nullptr, *ffn_norm = nullptr;
  int32_t n_hot = 0;                // GPU neurons
  dev_matrix gate, up, down_t;      // their rows, packed (down_t absent when down is: a row-major file)
  dev_matrix down;                  // row-major ffn_down, only when the whole FFN is on the GPU
  const int32_t *orig = nullptr;    // n_hot: compact row -> original neuron id
  const int32_t *row_of = nullptr;  // n_ff: original id -> compact row, or -1 (dense layers and hot layers)
  uint64_t neuron_bytes = 0;        // weight bytes of one neuron's rows
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
  bool output_on_gpu() const { return bool(output_); }
  const dev_matrix &output() const { return output_; }
  const float *output_norm() const { return output_norm_; }
  uint64_t weight_bytes() const { return weight_bytes_; }  // VRAM taken by weights
  uint64_t budget() const { return budget_; }
  int32_t n_dense_layers() const;  // layers whose attention, norms and predictor are on the GPU
  uint64_t n_hot_neurons() const;  // GPU neurons over all layers
  const placement &plan() const { return plan_; }
  std::string describe() const;

 private:
  offload() = default;
  void upload(const model &m);
  const void *put(const void *host, size_t bytes);  // nullptr on failure
  dev_matrix put_rows(const matrix &w, const std::vector<int32_t> &rows);  // rows empty = all

  std::unique_ptr<device> dev_;
  offload_mode mode_ = offload_mode::hybrid;
  std::vector<device_buffer> buffers_;
  std::vector<offload_layer> layers_;
  std::vector<neuron_table> tables_;
  dev_matrix output_;
  const float *output_norm_ = nullptr;
  uint64_t weight_bytes_ = 0, budget_ = 0;
  bool failed_ = false;
  placement plan_;
};

}  // namespace hearth
