// Large, zero-filled, 64-byte-aligned buffers (KV cache, scratch): mimalloc's explicit heap API when built with it
// (never its malloc override, so the host's allocator is untouched), the C library otherwise. Fresh pages from
// either come from the OS untouched, so a long context costs memory only as it fills.
#pragma once
#include <cstddef>
#include <memory>

namespace hearth {

void *zalloc_aligned(size_t bytes);  // nullptr on failure
void free_aligned(void *p);

struct aligned_deleter {
  void operator()(void *p) const { free_aligned(p); }
};
template <class T>
using aligned_buffer = std::unique_ptr<T[], aligned_deleter>;

template <class T>
aligned_buffer<T> make_aligned_buffer(size_t count) {
  return aligned_buffer<T>((T *)zalloc_aligned(count * sizeof(T)));
}

}  // namespace hearth
