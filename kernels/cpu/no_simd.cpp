// Non-x86 builds: only the reference tier.
#include "kernels.h"

namespace hearth::cpu {
const kernel_table *avx2_kernels() { return nullptr; }
const kernel_table *avx512_kernels() { return nullptr; }
}  // namespace hearth::cpu
