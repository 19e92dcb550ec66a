// GGUF files (v2 and v3; magic "GGUF", or PowerInfer's "PWRI" for sparse models and GPU indexes): a
// bounds-checked reader over a memory map. Every count, length, offset and shape read from a file is checked
// before use, so a malformed or truncated file gives HEARTH_ERR_BAD_FORMAT with a message, never a crash or a huge
// allocation. A tensor type the reader does not know is kept (its size unknown) so the file can still be
// described; whoever needs that tensor refuses it as UNSUPPORTED.
//
// The file is mapped, not read: if another process truncates it while it is mapped, touching the lost pages
// raises SIGBUS in the process (as with llama.cpp's mmap). hearth does not catch that signal (a library must not
// take over the host's signal handlers); hosts that must survive it can load with prefault and keep the file
// immutable while it is in use.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dtype.h"
#include "mapped_file.h"

namespace hearth {

enum class gguf_type : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
const char *gguf_type_name(gguf_type t);
size_t gguf_scalar_size(gguf_type t);  // 0 for string and array

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
  dtype type = dtype::f32;       // may be an id hearth does not know (known(type) false; then size is 0)
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
  bool pwri() const { return pwri_; }  // PowerInfer sparse file or GPU index
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t file_size() const { return map_->size(); }
  const mapped_file &map() const { return *map_; }

  const std::vector<gguf_kv> &kvs() const { return kvs_; }
  const gguf_value *find(std::string_view key) const;  // O(1)
  // Typed getters: a missing key gives def; a present key of the wrong type is a format error.
  uint64_t get_uint(std::string_view key, uint64_t def) const;
  double get_float(std::string_view key, double def) const;
  bool get_bool(std::string_view key, bool def) const;
  std::string get_string(std::string_view key, const std::string &def) const;
  // A float array (empty if absent or not an f32 array).
  std::vector<float> get_floats(std::string_view key) const;

  const std::vector<gguf_tensor> &tensors() const { return tensors_; }
  const gguf_tensor *tensor(std::string_view name) const;  // O(1)

 private:
  gguf_file() = default;
  std::string path_;
  std::unique_ptr<mapped_file> map_;
  bool pwri_ = false;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  std::vector<gguf_kv> kvs_;
  std::vector<gguf_tensor> tensors_;
  // Views of the names above (built after the vectors are complete, so they never move).
  std::unordered_map<std::string_view, size_t> kv_index_, tensor_index_;
};

// PowerInfer's ggml predates the IQ types: it numbers I8, I16 and I32 16, 17 and 18 (today's ggml: 24, 25, 26),
// and every PowerInfer tool reads and writes that numbering. PWRI files are read and written with it.
dtype pwri_type_from_file(uint32_t id);
uint32_t pwri_type_to_file(dtype t);

}  // namespace hearth
