// Causal attention over a KV cache in F32, F16 or Q8_0, and the store that fills the cache.
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype_id.h"
#include "model.h"

namespace hearth {

// A KV cache as the attention reads it: one row of n_head_kv * head_dim values per position, in `type`, rows
// row_bytes apart (row_bytes(type, width)). Not owned.
struct kv_cache_view {
  dtype type = dtype::f32;
  const uint8_t *data = nullptr;
  size_t row_bytes = 0;
};

// The types a KV cache can have; UNSUPPORTED (naming the type) for others, INVALID_ARGUMENT when Q8_0's 32-value
// blocks would straddle heads (head_dim % 32 != 0).
void check_kv_type(dtype type, int32_t head_dim);

// Stores n rows of `width` floats as cache rows pos0 .. pos0 + n - 1, encoded in the cache's type.
void store_kv(dtype type, const float *src, int64_t n, int64_t width, uint8_t *cache, int32_t pos0);

// Query t (position pos0 + t) sees cache rows 0..pos0+t (within the window, if any); query head h reads KV head
// h / (n_head / n_head_kv); scores are scale * q.k, soft-capped if asked, softmax-weighted over V. q and out are
// [n][n_head * head_dim]. The query heads of a KV head share each K and V row (the kernel takes up to 8 at once);
// one-token steps with few KV heads also split the context between threads and merge the pieces' online
// softmax states.
void attend(const float *q, const kv_cache_view &k, const kv_cache_view &v, int64_t n, int32_t pos0,
            const attention_spec &a, float *out);
// The same over F32 caches [position][n_head_kv * head_dim] (the emulated device's).
void attend(const float *q, const float *kcache, const float *vcache, int64_t n, int32_t pos0, const attention_spec &a,
            float *out);

}  // namespace hearth
