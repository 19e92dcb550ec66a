// The tiers of the other architecture: never compiled in, so the dispatcher and the tests see none.
#include "kernels.h"

namespace hearth::cpu {
#if !defined(__x86_64__)
const kernel_table *avx2_kernels() { return nullptr; }
const kernel_table *avx512_kernels() { return nullptr; }
#endif
#if !defined(__aarch64__)
const kernel_table *neon_kernels() { return nullptr; }
const kernel_table *neon_dotprod_kernels() { return nullptr; }
#endif
}  // namespace hearth::cpu
