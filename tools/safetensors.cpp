#include "safetensors.h"

#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "dtype.h"
#include "error.h"

namespace hearth {
namespace {

size_t elem_size(const std::string &dt) {
  if (dt == "F64" || dt == "I64" || dt == "U64") return 8;
  if (dt == "F32" || dt == "I32" || dt == "U32") return 4;
  if (dt == "F16" || dt == "BF16" || dt == "I16" || dt == "U16") return 2;
  if (dt == "I8" || dt == "U8" || dt == "BOOL" || dt == "F8_E4M3" || dt == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

int64_t st_tensor::n_elements() const {
  int64_t n = 1;
  for (int64_t e : shape) n *= e;
  return n;
}

std::vector<float> st_tensor::to_f32() const {
  const size_t n = (size_t)n_elements();
  std::vector<float> out(n);
  if (n == 0) return out;  // an empty tensor (memcpy may not take the null data of an empty vector)
  if (dtype == "F32") {
    std::memcpy(out.data(), data, n * 4);
  } else if (dtype == "F16" || dtype == "BF16") {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, data + 2 * i, 2);
      out[i] = dtype == "F16" ? fp16_to_f32(h) : bf16_to_f32(h);
    }
  } else {
    fail(HEARTH_ERR_UNSUPPORTED, fmt::format("tensor '{}' is {}; hearth imports F32, F16 and BF16", name, dtype));
  }
  return out;
}

const st_tensor *safetensors_file::find(const std::string &name) const {
  for (const st_tensor &t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::unique_ptr<safetensors_file> safetensors_file::open(const std::string &path) {
  std::unique_ptr<safetensors_file> f(new safetensors_file(path));
  const uint8_t *base = f->map_.data();
  const size_t size = f->map_.size();
  auto bad = [&](const std::string &what) { fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: {}", path, what)); };
  if (size < 8) bad("too short for a safetensors header");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | base[i];
  if (hlen > size - 8 || hlen > (uint64_t(100) << 20)) bad("the header length runs past the file");
  const uint8_t *data = base + 8 + hlen;
  const size_t data_size = size - 8 - hlen;
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(base + 8, base + 8 + hlen);
  } catch (const std::exception &e) {
    bad(std::string("the header is not JSON (") + e.what() + ")");
  }
  if (!h.is_object()) bad("the header is not a JSON object");
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) bad("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) f->metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    const nlohmann::json &j = *it;
    st_tensor t;
    t.name = it.key();
    if (!j.is_object() || !j.contains("dtype") || !j["dtype"].is_string() || !j.contains("shape") || !j["shape"].is_array() ||
        !j.contains("data_offsets") || !j["data_offsets"].is_array() || j["data_offsets"].size() != 2)
      bad(fmt::format("tensor '{}' lacks dtype, shape or data_offsets", t.name));
    t.dtype = j["dtype"].get<std::string>();
    uint64_t elements = 1;  // bounded by the file's size below, so checked for overflow on the way
    for (const nlohmann::json &e : j["shape"]) {
      if (!e.is_number_unsigned()) bad(fmt::format("tensor '{}' has a bad shape", t.name));
      const uint64_t v = e.get<uint64_t>();
      if (v && elements > data_size / v) bad(fmt::format("tensor '{}' has a shape larger than the file", t.name));
      elements *= v;
      t.shape.push_back((int64_t)v);
    }
    const nlohmann::json &o = j["data_offsets"];
    if (!o[0].is_number_unsigned() || !o[1].is_number_unsigned()) bad(fmt::format("tensor '{}' has bad data_offsets", t.name));
    const uint64_t begin = o[0].get<uint64_t>(), end = o[1].get<uint64_t>();
    if (begin > end || end > data_size) bad(fmt::format("tensor '{}' lies outside the file", t.name));
    const size_t es = elem_size(t.dtype);
    if (!es) bad(fmt::format("tensor '{}' has an unknown dtype '{}'", t.name, t.dtype));
    if ((uint64_t)t.n_elements() * es != end - begin)
      bad(fmt::format("tensor '{}' has {} bytes, its {} shape needs {}", t.name, end - begin, t.dtype, (uint64_t)t.n_elements() * es));
    t.data = data + begin;
    t.bytes = (size_t)(end - begin);
    f->tensors_.push_back(std::move(t));
  }
  return f;
}

}  // namespace hearth
