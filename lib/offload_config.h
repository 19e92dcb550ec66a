// What a model should place on the GPU at load (model_config::offload). A header of its own so the model can
// carry it without knowing how placement works (offload.h).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hearth {

class device;

// 0 = auto in offload_config::mode. attention: every layer's attention unit (and the output) while the budget
// lasts, every FFN and mixture of experts on the CPU (llama.cpp's -ngl 99 with -ot exps=CPU / --n-cpu-moe).
enum class offload_mode { none = 1, hybrid = 2, layers = 3, attention = 4 };
const char *offload_mode_name(offload_mode m);

struct offload_config {
  int32_t mode = 0;          // 0 auto (hybrid when a GPU is usable), else an offload_mode value
  uint64_t budget = 0;       // VRAM bytes; 0 = the device's free memory minus a margin
  std::string gpuidx;        // PowerInfer .gpuidx to take the neuron split from ("" = solve)
  int32_t n_ctx = 0;         // context the KV cache of GPU layers is sized for (0 = the session default)
  int32_t max_layers = 0;    // layers mode: at most this many layers, the output only past n_layer (0: no cap)
  // The solver's cost model (0: its defaults, 20 GB/s host, 1 TB/s device, 20 us per synchronisation): the
  // bandwidths decide what is worth moving, the sync time the fewest neurons worth a layer's round trip (C_l).
  double cpu_bandwidth = 0, gpu_bandwidth = 0, sync_seconds = 0;
  // Opens the device (nullptr: none, with the reason in *why). Empty: open_device() (device.h).
  std::function<std::unique_ptr<device>(std::string *why)> open;
};

}  // namespace hearth
