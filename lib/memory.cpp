#include "memory.h"

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
  void *p = std::aligned_alloc(64, rounded);
  if (p) std::memset(p, 0, rounded);
  return p;
#endif
}

void free_aligned(void *p) {
#ifdef HEARTH_HAVE_MIMALLOC
  mi_free(p);
#else
  std::free(p);
#endif
}

}  // namespace hearth
