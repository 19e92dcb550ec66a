// Writes GGUF v3 files (and PowerInfer's PWRI variant, with its type numbering: see gguf.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dtype.h"
#include "gguf.h"

namespace hearth {

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

  // Writes path + ".partial" and renames it over path at the end (a failure or a cancel removes it and leaves path
  // as it was). Throws hearth::error; progress(done, total) is called after each tensor and may return false to
  // cancel.
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
