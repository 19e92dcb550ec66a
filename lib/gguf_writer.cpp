#include "gguf_writer.h"

#include <fmt/format.h>

#include <cstring>

#include "error.h"
#include "file_replace.h"

namespace hearth {

namespace {
void put(std::vector<uint8_t> &out, const void *p, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  if (n) std::memcpy(out.data() + at, p, n);
}
template <class T>
void put(std::vector<uint8_t> &out, T v) {
  put(out, &v, sizeof(T));
}
void put_str(std::vector<uint8_t> &out, const std::string &s) {
  put<uint64_t>(out, s.size());
  put(out, s.data(), s.size());
}
}  // namespace

void gguf_writer::key_header(const std::string &key, gguf_type type) {
  put_str(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, (uint32_t)type);
  ++n_kv_;
}

void gguf_writer::set_u32(const std::string &key, uint32_t v) { key_header(key, gguf_type::u32); put(kv_bytes_, v); }
void gguf_writer::set_i32(const std::string &key, int32_t v) { key_header(key, gguf_type::i32); put(kv_bytes_, v); }
void gguf_writer::set_u64(const std::string &key, uint64_t v) { key_header(key, gguf_type::u64); put(kv_bytes_, v); }
void gguf_writer::set_f32(const std::string &key, float v) { key_header(key, gguf_type::f32); put(kv_bytes_, v); }
void gguf_writer::set_bool(const std::string &key, bool v) { key_header(key, gguf_type::boolean); put<uint8_t>(kv_bytes_, v ? 1 : 0); }
void gguf_writer::set_str(const std::string &key, const std::string &v) { key_header(key, gguf_type::string); put_str(kv_bytes_, v); }

void gguf_writer::set_arr_str(const std::string &key, const std::vector<std::string> &v) {
  key_header(key, gguf_type::array);
  put<uint32_t>(kv_bytes_, (uint32_t)gguf_type::string);
  put<uint64_t>(kv_bytes_, v.size());
  for (const std::string &s : v) put_str(kv_bytes_, s);
}
void gguf_writer::set_arr_f32(const std::string &key, const std::vector<float> &v) {
  key_header(key, gguf_type::array);
  put<uint32_t>(kv_bytes_, (uint32_t)gguf_type::f32);
  put<uint64_t>(kv_bytes_, v.size());
  put(kv_bytes_, v.data(), v.size() * sizeof(float));
}
void gguf_writer::set_arr_i32(const std::string &key, const std::vector<int32_t> &v) {
  key_header(key, gguf_type::array);
  put<uint32_t>(kv_bytes_, (uint32_t)gguf_type::i32);
  put<uint64_t>(kv_bytes_, v.size());
  put(kv_bytes_, v.data(), v.size() * sizeof(int32_t));
}
void gguf_writer::set_raw(const std::string &key, gguf_type type, const void *payload, size_t bytes) {
  key_header(key, type);
  put(kv_bytes_, payload, bytes);
}

void gguf_writer::set_value(const std::string &key, const gguf_value &v) {
  key_header(key, v.type);
  switch (v.type) {
    case gguf_type::string: put_str(kv_bytes_, std::string(v.str)); return;
    case gguf_type::f32: put<float>(kv_bytes_, (float)v.f); return;
    case gguf_type::f64: put<double>(kv_bytes_, v.f); return;
    case gguf_type::array:
      put<uint32_t>(kv_bytes_, (uint32_t)v.arr_type);
      put<uint64_t>(kv_bytes_, v.arr_count);
      if (v.arr_type == gguf_type::string) {
        for (std::string_view sv : v.arr_strings) put_str(kv_bytes_, std::string(sv));
      } else {
        put(kv_bytes_, v.arr_data, (size_t)v.arr_count * gguf_scalar_size(v.arr_type));
      }
      return;
    default:  // integers and bool: the low bytes of the widened value, little-endian
      put(kv_bytes_, &v.u, gguf_scalar_size(v.type));
      return;
  }
}

void gguf_writer::add_tensor(const std::string &name, dtype type, std::vector<int64_t> ne, fill_fn fill) {
  if (ne.empty() || ne.size() > 4) fail(HEARTH_ERR_INVALID_ARGUMENT, "tensor '" + name + "' must have 1 to 4 dimensions");
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  if (!known(type)) fail(HEARTH_ERR_INVALID_ARGUMENT, "tensor '" + name + "': unknown type " + type_name(type));
  if (ne[0] % traits(type).block_elems) fail(HEARTH_ERR_INVALID_ARGUMENT, "tensor '" + name + "': row not a multiple of the block size");
  tensors_.push_back({name, type, std::move(ne), std::move(fill), row_bytes(type, n)});
}

void gguf_writer::write(const std::string &path, const std::function<bool(size_t, size_t)> &progress) const {
  constexpr size_t align = 32;
  std::vector<uint8_t> head;
  put(head, pwri_ ? "PWRI" : "GGUF", 4);
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, n_kv_);
  put(head, kv_bytes_.data(), kv_bytes_.size());
  uint64_t offset = 0;
  for (const pending &t : tensors_) {
    put_str(head, t.name);
    put<uint32_t>(head, (uint32_t)t.ne.size());
    for (int64_t d : t.ne) put<uint64_t>(head, (uint64_t)d);
    put<uint32_t>(head, pwri_ ? pwri_type_to_file(t.type) : (uint32_t)t.type);
    put<uint64_t>(head, offset);
    offset += (t.size + align - 1) / align * align;
  }
  head.resize((head.size() + align - 1) / align * align, 0);

  write_file_replacing(path, [&](const append_fn &write_all) {
    write_all(head.data(), head.size());
    std::vector<uint8_t> buf;
    const uint8_t zeros[align] = {};
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const pending &t = tensors_[k];
      buf.assign(t.size, 0);
      if (t.fill) t.fill(buf.data(), buf.size());
      write_all(buf.data(), buf.size());
      write_all(zeros, (align - t.size % align) % align);
      if (progress && !progress(k + 1, tensors_.size())) fail(HEARTH_ERR_CANCELLED, "writing '" + path + "' was cancelled");
    }
  });
}

}  // namespace hearth
