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

// Memory from the OS for large data read in long streams (repacked weights): os_alloc'd, and on Linux, from 8 MiB,
// aligned to and advised for transparent huge pages, so streaming it walks one TLB entry per 2 MiB rather than
// per 4 KiB.
// Empty (data == nullptr) on failure. Owns its memory.
class os_buffer {
 public:
  explicit os_buffer(size_t bytes);
  ~os_buffer();
  os_buffer(os_buffer &&o) noexcept : base_(o.base_), size_(o.size_), data_(o.data_) { o.base_ = nullptr, o.data_ = nullptr; }
  os_buffer(const os_buffer &) = delete;
  os_buffer &operator=(const os_buffer &) = delete;
  os_buffer &operator=(os_buffer &&) = delete;
  uint8_t *data() const { return data_; }

 private:
  void *base_ = nullptr;
  size_t size_ = 0;
  uint8_t *data_ = nullptr;
};

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
