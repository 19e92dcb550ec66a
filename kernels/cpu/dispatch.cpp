// Chooses the kernel tier once, from what the CPU (and the OS, via XGETBV inside libgcc) supports.
#include <cstdlib>
#include <cstring>

#include "kernels.h"

namespace hearth::cpu {
namespace {

int isa_rank(const char *name) {
  if (!name) return 99;
  if (!std::strcmp(name, "ref")) return 0;
  if (!std::strcmp(name, "avx2")) return 1;
  if (!std::strcmp(name, "avx512")) return 2;
  return 99;
}

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

const kernel_table &choose() {
  const int cap = isa_rank(std::getenv("HEARTH_FORCE_ISA"));
  if (cap >= 2 && cpu_has_avx512() && avx512_kernels()) return *avx512_kernels();
  if (cap >= 1 && cpu_has_avx2() && avx2_kernels()) return *avx2_kernels();
  return ref_kernels();
}

}  // namespace

const kernel_table &kernels() {
  static const kernel_table &chosen = choose();
  return chosen;
}

int available_tiers(const kernel_table **out, int cap) {
  int n = 0;
  if (n < cap) out[n++] = &ref_kernels();
  if (n < cap && cpu_has_avx2() && avx2_kernels()) out[n++] = avx2_kernels();
  if (n < cap && cpu_has_avx512() && avx512_kernels()) out[n++] = avx512_kernels();
  return n;
}

}  // namespace hearth::cpu
