#include "arch.h"

#include <fmt/format.h>

#include <mutex>
#include <vector>

#include "error.h"

namespace hearth {

extern const arch_unit k_arch_llama;   // arch/llama.cpp
extern const arch_unit k_arch_bamboo;  // arch/bamboo.cpp
extern const arch_unit k_arch_qwen2;   // arch/qwen2.cpp
extern const arch_unit k_arch_qwen3;   // arch/qwen3.cpp
extern const arch_unit k_arch_falcon;  // arch/falcon.cpp
extern const arch_unit k_arch_phi3;    // arch/phi3.cpp
extern const arch_unit k_arch_gemma2;  // arch/gemma2.cpp
extern const arch_unit k_arch_gemma3;  // arch/gemma3.cpp
extern const arch_unit k_arch_opt;     // arch/opt.cpp
extern const arch_unit k_arch_qwen2moe;  // arch/qwen2moe.cpp
extern const arch_unit k_arch_qwen3moe;  // arch/qwen3moe.cpp
extern const arch_unit k_arch_smallthinker;  // arch/smallthinker.cpp

namespace {

// The registry: one row per architecture hearth runs.
const arch_unit *const k_builtin[] = {&k_arch_llama, &k_arch_bamboo, &k_arch_qwen2, &k_arch_qwen3, &k_arch_falcon,
                                           &k_arch_phi3,  &k_arch_gemma2, &k_arch_gemma3, &k_arch_opt,
                                      &k_arch_qwen2moe, &k_arch_qwen3moe, &k_arch_smallthinker};

std::mutex &extra_mutex() {
  static std::mutex m;
  return m;
}
std::vector<const arch_unit *> &extra() {
  static std::vector<const arch_unit *> v;
  return v;
}

}  // namespace

const arch_unit *find_arch(std::string_view name) {
  for (const arch_unit *u : k_builtin)
    if (name == u->name) return u;
  std::lock_guard<std::mutex> g(extra_mutex());
  for (const arch_unit *u : extra())
    if (name == u->name) return u;
  return nullptr;
}

std::string arch_names() {
  std::string s;
  for (const arch_unit *u : k_builtin) s += (s.empty() ? "" : ", ") + std::string(u->name);
  std::lock_guard<std::mutex> g(extra_mutex());
  for (const arch_unit *u : extra()) s += ", " + std::string(u->name);
  return s;
}

void register_arch(const arch_unit &unit) {
  if (find_arch(unit.name)) fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("architecture '{}' is already registered", unit.name));
  std::lock_guard<std::mutex> g(extra_mutex());
  extra().push_back(&unit);
}

int32_t hparam(const gguf_file &f, kv k, std::string_view arch, uint64_t lo, uint64_t hi) {
  const std::string key = key_name(k, arch);
  if (!f.find(key)) fail(HEARTH_ERR_BAD_FORMAT, "metadata '" + key + "' is missing");
  const uint64_t v = f.get_uint(key, 0);
  if (v < lo || v > hi) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("metadata '{}' = {} is outside [{}, {}]", key, v, lo, hi));
  return (int32_t)v;
}

int32_t hparam_or(const gguf_file &f, kv k, std::string_view arch, uint64_t lo, uint64_t hi, int32_t def) {
  return f.find(key_name(k, arch)) ? hparam(f, k, arch, lo, hi) : def;
}

// ---- tensor_loader --------------------------------------------------------------------------------------------

const gguf_tensor *tensor_loader::find(tensor t, int layer, std::string_view suffix, bool required, std::string *name) {
  *name = tensor_name(t, layer, suffix);
  const gguf_tensor *g = f_.tensor(*name);
  if (!g && required) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + *name + "' is missing");
  return g;
}

void tensor_loader::check_type(const gguf_tensor &t, const std::string &name) const {
  if (!traits(t.type).computable)
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' has type {}, which hearth cannot compute yet ({})", name,
                                             type_name(t.type), computable_type_names()));
}

void tensor_loader::count(const gguf_tensor &t, int64_t elements) {
  m_.n_params_ += (uint64_t)elements;
  m_.weight_bytes_ += t.size;
}

matrix tensor_loader::matrix_of(tensor t, int layer, int64_t cols, int64_t rows, bool required) {
  std::string name;
  const gguf_tensor *g = find(t, layer, "weight", required, &name);
  if (!g) return {};
  if (g->n_dims != 2 || g->ne[0] != cols || g->ne[1] != rows)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}, {}]", name, g->shape(), cols, rows));
  check_type(*g, name);
  matrix m;
  m.t = g;
  m.type = g->type;
  m.rows = rows;
  m.cols = cols;
  m.data = g->data;
  m.row_size = row_bytes(g->type, cols);
  count(*g, rows * cols);
  return m;
}

std::vector<float> tensor_loader::vector_of(tensor t, int layer, int64_t n, bool required, std::string_view suffix) {
  std::string name;
  const gguf_tensor *g = find(t, layer, suffix, required, &name);
  if (!g) return {};
  if (g->n_elements() != n || g->ne[0] != n)
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}]", name, g->shape(), n));
  check_type(*g, name);
  std::vector<float> v((size_t)n);
  dequantize_row(g->type, g->data, v.data(), n);
  count(*g, n);
  return v;
}

norm_weights tensor_loader::norm_of(tensor t, int layer, int64_t n, bool required) {
  norm_weights nw;
  nw.w = vector_of(t, layer, n, required);
  if (!nw.w.empty()) nw.b = vector_of(t, layer, n, false, "bias");
  return nw;
}

const gguf_tensor *tensor_loader::tensor_of(tensor t, int layer, std::initializer_list<int64_t> ne, bool required) {
  std::string name;
  const gguf_tensor *g = find(t, layer, "weight", required, &name);
  if (!g) return nullptr;
  bool ok = g->n_dims == (int)ne.size();
  int d = 0;
  for (int64_t v : ne) ok = ok && g->ne[d++] == v;
  if (!ok) {
    std::string want;
    for (int64_t v : ne) want += (want.empty() ? "" : ", ") + std::to_string(v);
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {}, expected [{}]", name, g->shape(), want));
  }
  check_type(*g, name);
  count(*g, g->n_elements());
  return g;
}

void tensor_loader::ffn_down(layer &L, int il, int64_t n_embd, int64_t n_ff) {
  L.down = matrix_of(tensor::ffn_down, il, n_ff, n_embd, false);
  if (!L.down) L.down_t = matrix_of(tensor::ffn_down_t, il, n_embd, n_ff, false);
  if (!L.down && !L.down_t) fail(HEARTH_ERR_BAD_FORMAT, "tensor '" + tensor_name(tensor::ffn_down, il) + "' is missing");
  L.bdown = vector_of(tensor::ffn_down, il, n_embd, false, "bias");
  // PowerInfer's converter renames the bias with the transposed weight
  if (L.bdown.empty() && L.down_t) L.bdown = vector_of(tensor::ffn_down_t, il, n_embd, false, "bias");
}

std::vector<matrix> tensor_loader::matrices_of(tensor t, int layer, int64_t cols, int64_t rows, int64_t count, bool required) {
  const gguf_tensor *g = tensor_of(t, layer, {cols, rows, count}, required);
  std::vector<matrix> v;
  if (!g) return v;
  matrix m;
  m.t = g;
  m.type = g->type;
  m.cols = cols;
  m.row_size = row_bytes(g->type, cols);
  m.data = g->data;
  m.rows = rows * count;
  for (int64_t e = 0; e < count; ++e) v.push_back(m.rows_range(e * rows, rows));
  return v;
}

}  // namespace hearth
