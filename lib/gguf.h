// GGUF files (v2 and v3; magic "GGUF", or PowerInfer's "PWRI" for sparse models): a bounds-checked reader over
// a memory map, and a writer. Every count, length, offset and shape read from a file is checked before use, so
// a malformed or truncated file gives HEARTH_ERR_BAD_FORMAT with a message, never a crash or a huge allocation.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.h"
#include "quant.h"

namespace hearth {

enum class gguf_type : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
const char *gguf_type_name(gguf_type t);

struct gguf_value {
  gguf_type type = gguf_type::u8;
  // Scalars: the value widened; strings: a view into the map.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string_view str;
  // Arrays: element type, count, and for numeric arrays the raw (possibly unaligned) elements in the map.
  gguf_type arr_type = gguf_type::u8;
  uint64_t arr_count = 0;
  const uint8_t *arr_data = nullptr;
  std::vector<std::string_view> arr_strings;

  bool is_integer() const;
  bool is_float() const { return type == gguf_type::f32 || type == gguf_type::f64; }
  template <class T>
  T arr(uint64_t k) const {  // numeric array element k, which must be of the same C type
    T v;
    std::memcpy(&v, arr_data + k * sizeof(T), sizeof(T));
    return v;
  }
  std::string to_string() const;  // for display
};

struct gguf_kv {
  std::string key;
  gguf_value value;
};

struct gguf_tensor {
  std::string name;
  dtype type = dtype::f32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous row length
  uint64_t offset = 0;           // relative to the data section
  const uint8_t *data = nullptr;
  size_t size = 0;
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::string shape() const;
};

class gguf_file {
 public:
  static std::unique_ptr<gguf_file> open(const std::string &path);

  const std::string &path() const { return path_; }
  bool pwri() const { return pwri_; }  // PowerInfer sparse file
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t file_size() const { return map_->size(); }
  const mapped_file &map() const { return *map_; }

  const std::vector<gguf_kv> &kvs() const { return kvs_; }
  const gguf_value *find(std::string_view key) const;
  // Typed getters: a missing key gives def; a present key of the wrong type is a format error.
  uint64_t get_uint(std::string_view key, uint64_t def) const;
  double get_float(std::string_view key, double def) const;
  bool get_bool(std::string_view key, bool def) const;
  std::string get_string(std::string_view key, const std::string &def) const;

  const std::vector<gguf_tensor> &tensors() const { return tensors_; }
  const gguf_tensor *tensor(std::string_view name) const;

 private:
  gguf_file() = default;
  std::string path_;
  std::unique_ptr<mapped_file> map_;
  bool pwri_ = false;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  std::vector<gguf_kv> kvs_;
  std::vector<gguf_tensor> tensors_;
};

// Writes a GGUF v3 file. Metadata is serialised as it is set; tensor bytes are produced one tensor at a time by
// a fill callback, so writing a multi-gigabyte model needs memory for one tensor only.
class gguf_writer {
 public:
  void set_pwri(bool pwri) { pwri_ = pwri; }
  void set_u32(const std::string &key, uint32_t v);
  void set_i32(const std::string &key, int32_t v);
  void set_u64(const std::string &key, uint64_t v);
  void set_f32(const std::string &key, float v);
  void set_bool(const std::string &key, bool v);
  void set_str(const std::string &key, const std::string &v);
  void set_arr_str(const std::string &key, const std::vector<std::string> &v);
  void set_arr_f32(const std::string &key, const std::vector<float> &v);
  void set_arr_i32(const std::string &key, const std::vector<int32_t> &v);
  // A value read from another file, of any type (for rewriting files).
  void set_value(const std::string &key, const gguf_value &v);
  // Raw: any value type, for tests that build odd files.
  void set_raw(const std::string &key, gguf_type type, const void *payload, size_t bytes);

  using fill_fn = std::function<void(uint8_t *dst, size_t bytes)>;
  void add_tensor(const std::string &name, dtype type, std::vector<int64_t> ne, fill_fn fill);

  // Throws hearth::error; progress(done, total) is called after each tensor and may return false to cancel.
  void write(const std::string &path, const std::function<bool(size_t, size_t)> &progress = nullptr) const;

 private:
  struct pending {
    std::string name;
    dtype type;
    std::vector<int64_t> ne;
    fill_fn fill;
    size_t size;
  };
  void key_header(const std::string &key, gguf_type type);
  bool pwri_ = false;
  uint64_t n_kv_ = 0;
  std::vector<uint8_t> kv_bytes_;
  std::vector<pending> tensors_;
};

}  // namespace hearth
