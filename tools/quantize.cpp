#include "quantize.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <cstring>
#include <memory>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "names.h"

namespace hearth {
namespace {

// llama_ftype numbers (llama.h), which general.file_type records.
const quant_target k_targets[] = {
    {"F32", 0, dtype::f32},      {"F16", 1, dtype::f16},       {"Q4_0", 2, dtype::q4_0},     {"Q4_1", 3, dtype::q4_1},
    {"Q8_0", 7, dtype::q8_0},    {"Q5_0", 8, dtype::q5_0},     {"Q5_1", 9, dtype::q5_1},     {"Q2_K", 10, dtype::q2_k},
    {"Q3_K_S", 11, dtype::q3_k}, {"Q3_K_M", 12, dtype::q3_k},  {"Q3_K_L", 13, dtype::q3_k},  {"Q4_K_S", 14, dtype::q4_k},
    {"Q4_K_M", 15, dtype::q4_k}, {"Q5_K_S", 16, dtype::q5_k},  {"Q5_K_M", 17, dtype::q5_k},  {"Q6_K", 18, dtype::q6_k},
    {"IQ4_NL", 25, dtype::iq4_nl}, {"IQ4_XS", 30, dtype::iq4_xs}, {"BF16", 32, dtype::bf16},
};
// Aliases llama-quantize accepts.
const struct {
  const char *alias, *name;
} k_aliases[] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};

bool is(const quant_target &t, const char *name) { return !std::strcmp(t.name, name); }
bool contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

// Layers that get more bits in the _M mixtures: the first and last eighth, and every third in between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// llama.cpp's fallback when a row does not divide into a type's blocks.
dtype fallback_for(dtype t, int64_t row_len) {
  dtype f;
  switch (t) {
    case dtype::q2_k: case dtype::q3_k: case dtype::iq4_xs: f = dtype::iq4_nl; break;
    case dtype::q4_k: f = dtype::q5_0; break;
    case dtype::q5_k: f = dtype::q5_1; break;
    case dtype::q6_k: f = dtype::q8_0; break;
    default: f = dtype::f16; break;
  }
  return row_len % traits(f).block_elems ? dtype::f16 : f;
}

// Which tensors are quantized at all (llama-quantize: 2-D or 3-D ".weight" tensors except norms, the expert
// router and positional tables); hearth adds PowerInfer's predictors, which keep the type they were trained in.
bool quantizable(const gguf_tensor &t) {
  const std::string &n = t.name;
  if (n.size() < 7 || !n.ends_with("weight") || t.n_dims < 2) return false;
  if (contains(n, "_norm.weight") || contains(n, "ffn_gate_inp.weight") || n == "position_embd.weight" ||
      n == "token_types.weight")
    return false;
  if (contains(n, ".fc1.") || contains(n, ".fc2.")) return false;
  return true;
}

bool quantized_type(dtype t) { return traits(t).block_elems > 1; }

}  // namespace

void convert_tensor(const gguf_tensor &t, dtype to, uint8_t *dst) {
  if (t.type == to) {
    std::memcpy(dst, t.data, t.size);
    return;
  }
  const int64_t cols = t.ne[0], rows = t.n_rows();
  const size_t src_rb = row_bytes(t.type, cols), dst_rb = row_bytes(to, cols);
  // Rows are independent: encoded in parallel, each into its own place, so the bytes do not depend on the thread
  // count.
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, rows, 16), [&](const tbb::blocked_range<int64_t> &r) {
    std::vector<float> row((size_t)cols);
    for (int64_t i = r.begin(); i < r.end(); ++i) {
      dequantize_row(t.type, t.data + i * src_rb, row.data(), cols);
      quantize_row(to, row.data(), dst + i * dst_rb, cols);
    }
  });
}

const quant_target *find_quant_target(const std::string &name) {
  std::string up = name;
  for (char &c : up) c = (char)std::toupper((unsigned char)c);
  for (const auto &a : k_aliases)
    if (up == a.alias) up = a.name;
  for (const quant_target &t : k_targets)
    if (up == t.name) return &t;
  return nullptr;
}

std::string quant_target_names() {
  std::string s;
  for (const quant_target &t : k_targets) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

dtype mixture_type(const quant_target &q, const std::string &arch, const std::string &name, int64_t row_len, int layer,
                   int n_layer, int32_t n_gqa, int32_t n_expert, int attn_v_index, bool has_output, bool *fallback) {
  dtype t = q.base;
  const bool falcon = arch == "falcon";
  if (name == "output.weight" || (!has_output && name == "token_embd.weight")) {
    // the output matrix (or the embedding standing in for it) gets Q6_K unless the base is Q8_0
    if (falcon || row_len % 256) t = dtype::q8_0;
    else if (t != dtype::q8_0) t = dtype::q6_k;
  } else if (name == "token_embd.weight") {
    // the base type (the IQ1-IQ3 and ternary mixtures, which change it, are not made here)
  } else if (contains(name, "attn_v.weight")) {
    if (is(q, "Q2_K")) t = n_gqa >= 4 ? dtype::q4_k : dtype::q3_k;
    else if (is(q, "Q3_K_M")) t = attn_v_index < 2 ? dtype::q5_k : dtype::q4_k;
    else if (is(q, "Q3_K_L")) t = dtype::q5_k;
    else if ((is(q, "IQ4_NL") || is(q, "IQ4_XS")) && n_gqa >= 4) t = dtype::q5_k;
    else if ((is(q, "Q4_K_M") || is(q, "Q5_K_M")) && use_more_bits(attn_v_index, n_layer)) t = dtype::q6_k;
    else if (is(q, "Q4_K_S") && attn_v_index < 4) t = dtype::q5_k;
    if (n_expert == 8) t = dtype::q8_0;
  } else if (contains(name, "attn_k.weight")) {
    if (n_expert == 8) t = dtype::q8_0;
  } else if (contains(name, "ffn_down")) {  // ffn_down, ffn_down_t (PWRI) and ffn_down_exps
    const int i = layer, n = n_layer;
    if (is(q, "Q2_K")) t = dtype::q3_k;
    else if (is(q, "Q3_K_M")) t = i < n / 16 ? dtype::q5_k : !falcon || use_more_bits(i, n) ? dtype::q4_k : dtype::q3_k;
    else if (is(q, "Q3_K_L")) t = falcon ? dtype::q4_k : dtype::q5_k;
    else if (is(q, "Q4_K_M")) {
      if (falcon) t = i < n / 16 ? dtype::q6_k : use_more_bits(i, n) ? dtype::q5_k : dtype::q4_k;
      else if (use_more_bits(i, n)) t = dtype::q6_k;
    } else if (i < n / 8 && (is(q, "IQ4_NL") || is(q, "IQ4_XS"))) t = dtype::q5_k;
    else if (is(q, "Q5_K_M") && use_more_bits(i, n)) t = dtype::q6_k;
    else if (is(q, "Q4_K_S") && !falcon && i < n / 8) t = dtype::q5_k;
  } else if (contains(name, "attn_output.weight")) {
    if (!falcon) {
      if (n_expert == 8) {
        for (const char *m : {"Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"})
          if (is(q, m)) t = dtype::q5_k;
      } else if (is(q, "Q2_K")) t = dtype::q3_k;
      else if (is(q, "Q3_K_M")) t = dtype::q4_k;
      else if (is(q, "Q3_K_L")) t = dtype::q5_k;
    } else if (is(q, "Q3_K_L")) t = dtype::q4_k;
  } else if (contains(name, "attn_qkv.weight")) {
    if (is(q, "Q3_K_M") || is(q, "Q3_K_L")) t = dtype::q4_k;
    else if (is(q, "Q4_K_M")) t = dtype::q5_k;
    else if (is(q, "Q5_K_M")) t = dtype::q6_k;
  }
  if (fallback) *fallback = false;
  if (row_len % traits(t).block_elems) {
    t = fallback_for(t, row_len);
    if (fallback) *fallback = true;
  }
  return t;
}

std::vector<quantized_tensor> quantize_model(const std::string &in, const std::string &out, const quant_target &target,
                                             const quantize_options &opt,
                                             const std::function<bool(size_t, size_t, const std::string &)> &progress) {
  const std::unique_ptr<gguf_file> src = gguf_file::open(in);
  const std::string arch = src->get_string("general.architecture", "");
  const int n_layer = (int)src->get_uint(arch + ".block_count", 0);
  const int64_t n_head = (int64_t)src->get_uint(arch + ".attention.head_count", 0);
  const int64_t n_head_kv = (int64_t)src->get_uint(arch + ".attention.head_count_kv", (uint64_t)n_head);
  const int32_t n_gqa = n_head_kv > 0 ? (int32_t)(n_head / n_head_kv) : 1;
  const int32_t n_expert = (int32_t)src->get_uint(arch + ".expert_count", 0);
  bool has_output = false;
  for (const gguf_tensor &t : src->tensors()) has_output |= t.name == "output.weight";

  gguf_writer w;
  w.set_pwri(src->pwri());
  for (const gguf_kv &kv : src->kvs())
    if (kv.key != "general.file_type" && kv.key != "general.quantization_version") w.set_value(kv.key, kv.value);
  w.set_u32("general.file_type", target.ftype);
  w.set_u32("general.quantization_version", 2);  // ggml's QK-block format version, as llama-quantize writes

  std::vector<quantized_tensor> report;
  int attn_v_index = 0;
  for (const gguf_tensor &t : src->tensors()) {
    dtype to = t.type;
    bool fallback = false;
    if (quantizable(t)) {
      if (opt.pure || !quantized_type(target.base)) {
        to = target.base;
        if (t.ne[0] % traits(to).block_elems) to = fallback_for(to, t.ne[0]), fallback = true;
      } else {
        to = mixture_type(target, arch, t.name, t.ne[0], tensor_layer(t.name), n_layer, n_gqa, n_expert, attn_v_index,
                          has_output, &fallback);
      }
      if (contains(t.name, "attn_v.weight")) ++attn_v_index;
      if (opt.embd_type_set && t.name == "token_embd.weight") to = opt.embd_type;
      if (opt.output_type_set && t.name == "output.weight") to = opt.output_type;
      if (t.ne[0] % traits(to).block_elems)
        fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("tensor '{}': rows of {} values do not divide into {} blocks of {}",
                                                      t.name, t.ne[0], type_name(to), traits(to).block_elems));
    }
    if (to != t.type) {
      if (!traits(t.type).to_float)
        fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' is {}, which hearth cannot decode", t.name, type_name(t.type)));
      if (quantized_type(t.type) && !opt.allow_requantize)
        fail(HEARTH_ERR_INVALID_ARGUMENT,
             fmt::format("tensor '{}' is already quantized ({}); requantizing loses accuracy: pass --allow-requantize, "
                         "or start from the F32/F16/BF16 file",
                         t.name, type_name(t.type)));
      if (!traits(to).from_float)
        fail(HEARTH_ERR_UNSUPPORTED, fmt::format("hearth cannot encode {} (tensor '{}')", type_name(to), t.name));
    }
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    const gguf_tensor *tp = &t;
    w.add_tensor(t.name, to, ne, [tp, to](uint8_t *dst, size_t) { convert_tensor(*tp, to, dst); });
    report.push_back({t.name, t.type, to, t.size, to == t.type ? t.size : row_bytes(to, t.ne[0]) * (size_t)t.n_rows(), fallback});
  }
  const auto &list = src->tensors();
  w.write(out, [&](size_t done, size_t total) { return !progress || progress(done, total, done > 0 ? list[done - 1].name : ""); });
  return report;
}

}  // namespace hearth
