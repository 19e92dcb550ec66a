#include "gguf.h"

#include <fmt/format.h>

#include <cstdio>
#include <limits>
#include <unordered_set>

#include "error.h"

namespace hearth {
namespace {

constexpr int k_max_dims = 4;

bool known_type(uint32_t t) { return t <= 12; }

// A cursor over [pos, end) of the map; every read checks the remaining bytes first.
class cursor {
 public:
  cursor(const uint8_t *begin, const uint8_t *end, const std::string &path) : begin_(begin), pos_(begin), end_(end), path_(path) {}
  size_t remaining() const { return (size_t)(end_ - pos_); }
  size_t offset() const { return (size_t)(pos_ - begin_); }
  [[noreturn]] void bad(const std::string &what) const {
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: {} (at byte {})", path_, what, offset()));
  }
  void need(size_t n, const char *what) const {
    if (n > remaining()) bad(fmt::format("file truncated while reading {} ({} bytes needed, {} left)", what, n, remaining()));
  }
  template <class T>
  T read(const char *what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t *take(size_t n, const char *what) {
    need(n, what);
    const uint8_t *p = pos_;
    pos_ += n;
    return p;
  }
  std::string_view string(const char *what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining()) bad(fmt::format("{} has length {} but only {} bytes remain", what, len, remaining()));
    return {(const char *)take((size_t)len, what), (size_t)len};
  }

 private:
  const uint8_t *begin_, *pos_, *end_;
  const std::string &path_;
};

void read_scalar(cursor &c, gguf_type t, gguf_value &v) {
  switch (t) {
    case gguf_type::u8: v.u = c.read<uint8_t>("u8 value"); v.i = (int64_t)v.u; break;
    case gguf_type::i8: v.i = c.read<int8_t>("i8 value"); v.u = (uint64_t)v.i; break;
    case gguf_type::u16: v.u = c.read<uint16_t>("u16 value"); v.i = (int64_t)v.u; break;
    case gguf_type::i16: v.i = c.read<int16_t>("i16 value"); v.u = (uint64_t)v.i; break;
    case gguf_type::u32: v.u = c.read<uint32_t>("u32 value"); v.i = (int64_t)v.u; break;
    case gguf_type::i32: v.i = c.read<int32_t>("i32 value"); v.u = (uint64_t)v.i; break;
    case gguf_type::u64: v.u = c.read<uint64_t>("u64 value"); v.i = (int64_t)v.u; break;
    case gguf_type::i64: v.i = c.read<int64_t>("i64 value"); v.u = (uint64_t)v.i; break;
    case gguf_type::f32: v.f = c.read<float>("f32 value"); break;
    case gguf_type::f64: v.f = c.read<double>("f64 value"); break;
    case gguf_type::boolean: {
      const uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) c.bad(fmt::format("bool value {} is neither 0 nor 1", b));
      v.u = b;
      v.i = b;
      break;
    }
    case gguf_type::string: v.str = c.string("string value"); break;
    default: c.bad("unexpected value type");
  }
}

}  // namespace

size_t gguf_scalar_size(gguf_type t) {
  switch (t) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    default: return 0;  // string, array: variable
  }
}

dtype pwri_type_from_file(uint32_t id) {
  switch (id) {
    case 16: return dtype::i8;
    case 17: return dtype::i16;
    case 18: return dtype::i32;
    default: return (dtype)id;  // the same numbering below 16; hearth's own older GPU indexes wrote I32 as 26
  }
}

uint32_t pwri_type_to_file(dtype t) {
  switch (t) {
    case dtype::i8: return 16;
    case dtype::i16: return 17;
    case dtype::i32: return 18;
    default: return (uint32_t)t;
  }
}

const char *gguf_type_name(gguf_type t) {
  static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  return (uint32_t)t <= 12 ? names[(uint32_t)t] : "?";
}

bool gguf_value::is_integer() const {
  switch (type) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::u16: case gguf_type::i16: case gguf_type::u32:
    case gguf_type::i32: case gguf_type::u64: case gguf_type::i64: return true;
    default: return false;
  }
}

std::string gguf_value::to_string() const {
  switch (type) {
    case gguf_type::string: return std::string(str);
    case gguf_type::array: return fmt::format("[{} x {}]", arr_count, gguf_type_name(arr_type));
    case gguf_type::boolean: return u ? "true" : "false";
    case gguf_type::f32: case gguf_type::f64: return fmt::format("{}", f);
    case gguf_type::i8: case gguf_type::i16: case gguf_type::i32: case gguf_type::i64: return fmt::format("{}", i);
    default: return fmt::format("{}", u);
  }
}

std::string gguf_tensor::shape() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

std::unique_ptr<gguf_file> gguf_file::open(const std::string &path) {
  std::unique_ptr<gguf_file> f(new gguf_file());
  f->path_ = path;
  f->map_ = std::make_unique<mapped_file>(path);
  const uint8_t *base = f->map_->data();
  const size_t size = f->map_->size();
  cursor c(base, base + size, f->path_);

  const uint8_t *magic = c.take(4, "magic");
  if (!std::memcmp(magic, "GGUF", 4)) {
    f->pwri_ = false;
  } else if (!std::memcmp(magic, "PWRI", 4)) {
    f->pwri_ = true;
  } else {
    fail(HEARTH_ERR_BAD_FORMAT, path + ": not a GGUF file (bad magic)");
  }
  f->version_ = c.read<uint32_t>("version");
  if (f->version_ == 1) fail(HEARTH_ERR_UNSUPPORTED, path + ": GGUF version 1 is not supported (convert to v3)");
  if (f->version_ != 2 && f->version_ != 3) {
    if ((f->version_ & 0xffff) == 0) fail(HEARTH_ERR_UNSUPPORTED, path + ": big-endian GGUF is not supported");
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: unknown GGUF version {}", path, f->version_));
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Each entry takes at least this many bytes, which bounds the counts before anything is allocated.
  if (n_kv > c.remaining() / 12) c.bad(fmt::format("metadata count {} cannot fit in the file", n_kv));
  if (n_tensors > c.remaining() / 32) c.bad(fmt::format("tensor count {} cannot fit in the file", n_tensors));

  std::unordered_set<std::string_view> keys;
  f->kvs_.reserve((size_t)n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    gguf_kv kv;
    const std::string_view key = c.string("metadata key");
    kv.key = std::string(key);
    if (!keys.insert(key).second) c.bad("duplicate metadata key '" + kv.key + "'");
    const uint32_t t = c.read<uint32_t>("metadata type");
    if (!known_type(t)) c.bad(fmt::format("metadata '{}' has unknown type {}", kv.key, t));
    kv.value.type = (gguf_type)t;
    if (kv.value.type == gguf_type::array) {
      const uint32_t at = c.read<uint32_t>("array type");
      if (!known_type(at) || at == (uint32_t)gguf_type::array)
        c.bad(fmt::format("metadata '{}' is an array of unsupported type {}", kv.key, at));
      kv.value.arr_type = (gguf_type)at;
      const uint64_t n = c.read<uint64_t>("array length");
      kv.value.arr_count = n;
      if (kv.value.arr_type == gguf_type::string) {
        if (n > c.remaining() / 8) c.bad(fmt::format("array '{}' of {} strings cannot fit in the file", kv.key, n));
        kv.value.arr_strings.reserve((size_t)n);
        for (uint64_t j = 0; j < n; ++j) kv.value.arr_strings.push_back(c.string("array string"));
      } else {
        const size_t es = gguf_scalar_size(kv.value.arr_type);
        if (n > c.remaining() / es) c.bad(fmt::format("array '{}' of {} elements cannot fit in the file", kv.key, n));
        kv.value.arr_data = c.take((size_t)n * es, "array data");
        if (kv.value.arr_type == gguf_type::boolean)
          for (uint64_t j = 0; j < n; ++j)
            if (kv.value.arr_data[j] > 1) c.bad("bool array '" + kv.key + "' holds a value other than 0 or 1");
      }
    } else {
      read_scalar(c, kv.value.type, kv.value);
    }
    f->kvs_.push_back(std::move(kv));
  }

  f->kv_index_.reserve(f->kvs_.size());
  for (size_t k = 0; k < f->kvs_.size(); ++k) f->kv_index_.emplace(f->kvs_[k].key, k);

  if (const gguf_value *a = f->find("general.alignment")) {
    if (!a->is_integer() || a->u == 0 || a->u > (1u << 30) || (a->u & (a->u - 1)))
      fail(HEARTH_ERR_BAD_FORMAT, path + ": general.alignment must be a power of two");
    f->alignment_ = (uint32_t)a->u;
  }

  std::unordered_set<std::string_view> names;
  f->tensors_.reserve((size_t)n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    gguf_tensor t;
    const std::string_view name = c.string("tensor name");
    t.name = std::string(name);
    if (!names.insert(name).second) c.bad("duplicate tensor '" + t.name + "'");
    const uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims < 1 || n_dims > k_max_dims) c.bad(fmt::format("tensor '{}' has {} dimensions", t.name, n_dims));
    t.n_dims = (int)n_dims;
    int64_t n_elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne > (uint64_t)std::numeric_limits<int64_t>::max() || (ne && (uint64_t)n_elems > (uint64_t)std::numeric_limits<int64_t>::max() / ne))
        c.bad(fmt::format("tensor '{}' has an absurd shape", t.name));
      t.ne[d] = (int64_t)ne;
      n_elems *= (int64_t)ne;
    }
    const uint32_t type = c.read<uint32_t>("tensor type");
    t.type = f->pwri_ ? pwri_type_from_file(type) : (dtype)type;
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % f->alignment_) c.bad(fmt::format("tensor '{}' data offset {} is not aligned to {}", t.name, t.offset, f->alignment_));
    const dtype_traits &tr = traits(t.type);
    if (tr.block_elems > 0) {  // an unknown type keeps size 0: it can be listed, not used
      if (t.ne[0] % tr.block_elems)
        c.bad(fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}", t.name, t.ne[0], tr.name, tr.block_elems));
      const unsigned __int128 bytes = (unsigned __int128)(n_elems / tr.block_elems) * (unsigned __int128)tr.block_bytes;
      if (bytes > (unsigned __int128)size) c.bad(fmt::format("tensor '{}' is larger than the file", t.name));
      t.size = (size_t)bytes;
    }
    f->tensors_.push_back(std::move(t));
  }

  const size_t header_end = c.offset();
  const size_t data_start = (header_end + f->alignment_ - 1) / f->alignment_ * f->alignment_;
  for (gguf_tensor &t : f->tensors_) {
    if (data_start > size || t.offset > size - data_start || t.size > size - data_start - t.offset)
      fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: data of tensor '{}' lies past the end of the file (truncated?)", path, t.name));
    t.data = base + data_start + t.offset;
  }
  f->tensor_index_.reserve(f->tensors_.size());
  for (size_t k = 0; k < f->tensors_.size(); ++k) f->tensor_index_.emplace(f->tensors_[k].name, k);
  return f;
}

const gguf_value *gguf_file::find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

uint64_t gguf_file::get_uint(std::string_view key, uint64_t def) const {
  const gguf_value *v = find(key);
  if (!v) return def;
  if (!v->is_integer() || (v->i < 0 && v->type != gguf_type::u64))
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: metadata '{}' must be a non-negative integer", path_, key));
  return v->u;
}

double gguf_file::get_float(std::string_view key, double def) const {
  const gguf_value *v = find(key);
  if (!v) return def;
  if (v->is_float()) return v->f;
  if (v->is_integer()) return (double)v->i;
  fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: metadata '{}' must be a number", path_, key));
}

bool gguf_file::get_bool(std::string_view key, bool def) const {
  const gguf_value *v = find(key);
  if (!v) return def;
  if (v->type != gguf_type::boolean && !v->is_integer())
    fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: metadata '{}' must be a bool", path_, key));
  return v->u != 0;
}

std::string gguf_file::get_string(std::string_view key, const std::string &def) const {
  const gguf_value *v = find(key);
  if (!v) return def;
  if (v->type != gguf_type::string) fail(HEARTH_ERR_BAD_FORMAT, fmt::format("{}: metadata '{}' must be a string", path_, key));
  return std::string(v->str);
}

const gguf_tensor *gguf_file::tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> gguf_file::get_floats(std::string_view key) const {
  const gguf_value *v = find(key);
  if (!v || v->type != gguf_type::array || v->arr_type != gguf_type::f32) return {};
  std::vector<float> out((size_t)v->arr_count);
  for (uint64_t i = 0; i < v->arr_count; ++i) out[(size_t)i] = v->arr<float>(i);
  return out;
}

}  // namespace hearth
