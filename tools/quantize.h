// `hearth quantize`: requantize a GGUF or PWRI model file as llama-quantize does, without an importance matrix:
// one base type, or a named mixture (Q4_K_M puts attn_v and half the ffn_down layers in Q6_K, ...) chosen per
// tensor by llama.cpp's rules (llama_tensor_get_type), with its fallbacks where a row does not divide into the
// type's blocks. Norms, biases, router and 1-D tensors, and PowerInfer predictors (fc1/fc2) keep their types; a
// PWRI file stays PWRI, with its neuron-major ffn_down_t requantized along n_embd.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dtype.h"
#include "gguf.h"

namespace hearth {

// A target as llama-quantize names it ("Q4_K_M", "Q8_0", ...): its llama_ftype number (general.file_type) and
// its base type.
struct quant_target {
  const char *name;
  uint32_t ftype;
  dtype base;
};
// nullptr for a name hearth does not make (the list is in quant_target_names()).
const quant_target *find_quant_target(const std::string &name);
std::string quant_target_names();

struct quantize_options {
  bool pure = false;              // every quantizable tensor in the base type (llama-quantize --pure)
  bool allow_requantize = false;  // accept quantized sources (llama-quantize --allow-requantize)
  bool output_type_set = false, embd_type_set = false;
  dtype output_type = dtype::q6_k, embd_type = dtype::q4_k;  // --output-tensor-type / --token-embedding-type
};

// What one tensor became.
struct quantized_tensor {
  std::string name;
  dtype from, to;
  size_t bytes_before, bytes_after;
  bool fallback;  // the rule's type did not fit the row length; llama.cpp's fallback was used
};

// The type llama.cpp's rules give a tensor (exposed for tests). `arch` is general.architecture; n_gqa and
// n_expert come from its hyper-parameters; layer / n_layer locate a per-layer tensor.
dtype mixture_type(const quant_target &target, const std::string &arch, const std::string &name, int64_t row_len,
                   int layer, int n_layer, int32_t n_gqa, int32_t n_expert, int attn_v_index, bool has_output,
                   bool *fallback = nullptr);

// A tensor's rows decoded and re-encoded in `to` into dst (row_bytes(to, ne[0]) per row; a plain copy when the
// types match). Throws hearth::error for a type hearth cannot decode or encode.
void convert_tensor(const gguf_tensor &t, dtype to, uint8_t *dst);

// Writes OUT; progress(done, total, tensor name) after each tensor (false cancels). Throws hearth::error
// (INVALID_ARGUMENT for a quantized source without allow_requantize, UNSUPPORTED for types hearth cannot read).
std::vector<quantized_tensor> quantize_model(const std::string &in, const std::string &out, const quant_target &target,
                                             const quantize_options &opt,
                                             const std::function<bool(size_t, size_t, const std::string &)> &progress = nullptr);

}  // namespace hearth
