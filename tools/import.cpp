#include "import.h"

#include <fmt/format.h>

#include <set>

#include "error.h"
#include "gguf_writer.h"
#include "names.h"

namespace hearth {

void import_weights(const gguf_file &tmpl, const safetensors_file &weights, const import_options &opt, const std::string &out) {
  gguf_writer w;
  w.set_pwri(tmpl.pwri());
  for (const gguf_kv &kv : tmpl.kvs())
    if (kv.key != key_name(kv::general_alignment)) w.set_value(kv.key, kv.value);
  for (const auto &[k, v] : opt.meta_f32) w.set_f32(k, v);
  std::set<std::string> used;
  for (const gguf_tensor &t : tmpl.tensors()) {
    const st_tensor *s = weights.find(t.name);
    if (!s) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("the weights have no tensor '{}'", t.name));
    std::vector<int64_t> ne(s->shape.rbegin(), s->shape.rend());
    if (ne != std::vector<int64_t>(t.ne, t.ne + t.n_dims))
      fail(HEARTH_ERR_BAD_FORMAT, fmt::format("tensor '{}' has shape {} in the weights, the template's is {}", t.name,
                                              fmt::join(s->shape, "x"), t.shape()));
    const dtype to = t.n_dims >= 2 ? opt.matrix_type : dtype::f32;
    if (t.ne[0] % traits(to).block_elems)
      fail(HEARTH_ERR_INVALID_ARGUMENT, fmt::format("tensor '{}' has rows of {}, not a multiple of {}'s block", t.name, t.ne[0], type_name(to)));
    used.insert(t.name);
    const int64_t cols = t.ne[0], rows = t.n_elements() / cols;
    w.add_tensor(t.name, to, ne, [s, to, cols, rows](uint8_t *dst, size_t) {
      const std::vector<float> v = s->to_f32();
      const size_t rb = row_bytes(to, cols);
      for (int64_t r = 0; r < rows; ++r) quantize_row(to, v.data() + r * cols, dst + r * rb, cols);
    });
  }
  for (const st_tensor &s : weights.tensors())
    if (!used.count(s.name)) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("the template has no tensor '{}'", s.name));
  w.write(out);
}

}  // namespace hearth
