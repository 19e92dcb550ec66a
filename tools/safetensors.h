// Reads Hugging Face's safetensors files: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape (row-major, outermost first) and byte range, then the data. The file is memory-mapped;
// tensors are views into it. What `hearth import` brings trained weights in from.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mapped_file.h"

namespace hearth {

struct st_tensor {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16" (the ones hearth converts), or any other safetensors name
  std::vector<int64_t> shape;  // row-major: shape.back() is the contiguous length (GGUF's ne[0])
  const uint8_t *data = nullptr;
  size_t bytes = 0;
  int64_t n_elements() const;
  // The values as floats (F32, F16, BF16); UNSUPPORTED naming the dtype otherwise.
  std::vector<float> to_f32() const;
};

class safetensors_file {
 public:
  // Throws hearth::error: IO for an unreadable file, BAD_FORMAT (naming what) for a malformed header, a tensor
  // whose bytes do not match its dtype and shape, or a range outside the file.
  static std::unique_ptr<safetensors_file> open(const std::string &path);
  const std::vector<st_tensor> &tensors() const { return tensors_; }
  const st_tensor *find(const std::string &name) const;
  const std::map<std::string, std::string> &metadata() const { return metadata_; }

 private:
  explicit safetensors_file(const std::string &path) : map_(path) {}
  mapped_file map_;
  std::vector<st_tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace hearth
