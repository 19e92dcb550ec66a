#include "gpuidx.h"

#include <fmt/format.h>

#include <cstring>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "names.h"

namespace hearth {

void write_gpuidx(const std::string &path, const placement &p, int64_t n_ff, uint64_t vram_capacity) {
  gguf_writer w;
  w.set_pwri(true);
  w.set_str(key_name(kv::general_architecture), k_gpu_index_arch);
  w.set_u64(key_name(kv::split_vram_capacity), vram_capacity);
  w.set_u32(key_name(kv::gpu_index_block_count), (uint32_t)p.layers.size());
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const std::vector<int32_t> &ids = p.layers[l].gpu_neurons;
    w.add_tensor(tensor_name(tensor::gpu_idx, (int)l, ""), dtype::i32, {n_ff}, [ids](uint8_t *dst, size_t bytes) {
      std::memset(dst, 0, bytes);
      const int32_t one = 1;
      for (int32_t i : ids) std::memcpy(dst + 4 * (size_t)i, &one, 4);
    });
    // ggml tensors have at least one element: an empty bucket is written as one -1 (PowerInfer reads k from gpu_idx).
    const int64_t k = std::max<int64_t>(1, (int64_t)ids.size());
    w.add_tensor(tensor_name(tensor::gpu_bucket, (int)l, ""), dtype::i32, {k}, [ids](uint8_t *dst, size_t) {
      if (ids.empty()) {
        const int32_t none = -1;
        std::memcpy(dst, &none, 4);
      } else {
        std::memcpy(dst, ids.data(), ids.size() * 4);
      }
    });
  }
  w.write(path);
}

placement read_gpuidx(const std::string &path, int32_t n_layer, int64_t n_ff) {
  const auto f = gguf_file::open(path);
  if (f->get_string(key_name(kv::general_architecture), "") != k_gpu_index_arch)
    fail(HEARTH_ERR_BAD_FORMAT, path + ": not a GPU index file (general.architecture is not generic.gpu_index)");
  const auto &ts = f->tensors();
  if ((int64_t)ts.size() != 2 * (int64_t)n_layer)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: {} tensors, expected 2 per layer for {} layers", path, ts.size(), n_layer));
  placement p;
  p.layers.resize((size_t)n_layer);
  for (int32_t l = 0; l < n_layer; ++l) {
    // PowerInfer reads by position: gpu_idx then gpu_bucket for each layer
    const gguf_tensor &idx = ts[(size_t)(2 * l)];
    if (idx.type != dtype::i32 || idx.n_elements() != n_ff)
      fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: tensor {} ({}) should be I32 [{}]", path, 2 * l, idx.name, n_ff));
    for (int64_t i = 0; i < n_ff; ++i) {
      int32_t v;
      std::memcpy(&v, idx.data + 4 * i, 4);
      if (v != 0 && v != 1) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: {} holds {}, not 0 or 1", path, idx.name, v));
      if (v) p.layers[(size_t)l].gpu_neurons.push_back((int32_t)i);
    }
  }
  return p;
}

}  // namespace hearth
