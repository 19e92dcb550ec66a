// Large, zero-filled, 64-byte-aligned buffers (KV cache, scratch): mimalloc's explicit heap API when built with it
// (never its malloc override, so the host's allocator is untouched), the C library otherwise. Fresh pages from
// either come from the OS untouched, so a long context costs memory only as it fills.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace hearth {

void *zalloc_aligned(size_t bytes);  // nullptr on failure
void free_aligned(void *p);

// Zero-filled memory straight from the OS (an anonymous private map): nothing is committed until it is touched,
// so a KV cache for a long context costs only what it holds. Page-aligned; nullptr on failure.
void *os_alloc(size_t bytes);
void os_free(void *p, size_t bytes);  // bytes as given to os_alloc

// Bytes the OS can still give this process without swapping (MemAvailable), or 0 if unknown.
uint64_t available_memory();

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
