#include "memory.h"

#ifdef _WIN32
#include "windows_api.h"
#else
#include <sys/mman.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef HEARTH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

namespace hearth {

void *zalloc_aligned(size_t bytes) {
  if (bytes == 0) bytes = 1;
#ifdef HEARTH_HAVE_MIMALLOC
  return mi_zalloc_aligned(bytes, 64);
#else
  const size_t rounded = (bytes + 63) / 64 * 64;
#ifdef _WIN32
  void *p = _aligned_malloc(rounded, 64);  // the MSVC runtime has no aligned_alloc: free() cannot take it back
#else
  void *p = std::aligned_alloc(64, rounded);
#endif
  if (p) std::memset(p, 0, rounded);
  return p;
#endif
}

void free_aligned(void *p) {
#ifdef HEARTH_HAVE_MIMALLOC
  mi_free(p);
#elif defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

#ifdef _WIN32
// Committed pages are zero and take no physical memory until touched, as an anonymous map's.
void *os_alloc(size_t bytes) {
  return ::VirtualAlloc(nullptr, bytes == 0 ? 1 : bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void os_free(void *p, size_t) {
  if (p) ::VirtualFree(p, 0, MEM_RELEASE);
}

uint64_t available_memory() {
  MEMORYSTATUSEX status{};
  status.dwLength = sizeof status;
  return ::GlobalMemoryStatusEx(&status) ? (uint64_t)status.ullAvailPhys : 0;
}
#else
void *os_alloc(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void *p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void os_free(void *p, size_t bytes) {
  if (p) ::munmap(p, bytes == 0 ? 1 : bytes);
}

uint64_t available_memory() {
  std::FILE *f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  std::fclose(f);
  return (uint64_t)kb * 1024;
}
#endif

os_buffer::os_buffer(size_t bytes) {
#ifdef _WIN32
  size_ = bytes;
  base_ = os_alloc(size_);
  data_ = (uint8_t *)base_;
#else
  constexpr size_t huge = size_t(2) << 20;
  if (bytes < 4 * huge) {  // small: no huge pages (each would be a 2 MiB page zeroed for a few KiB of data)
    size_ = bytes;
    base_ = os_alloc(size_);
    data_ = (uint8_t *)base_;
    return;
  }
  size_ = bytes + huge;  // room to start on a 2 MiB boundary
  base_ = os_alloc(size_);
  if (!base_) return;
  data_ = (uint8_t *)(((uintptr_t)base_ + huge - 1) & ~(uintptr_t)(huge - 1));
#ifdef MADV_HUGEPAGE
  ::madvise(data_, bytes / huge * huge, MADV_HUGEPAGE);  // a hint: without THP the pages are small, nothing fails
#endif
#endif
}

os_buffer::~os_buffer() { os_free(base_, size_); }

}  // namespace hearth
