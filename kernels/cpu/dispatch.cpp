// Chooses the kernel tier once, from what the CPU (and the OS, via XGETBV inside libgcc) supports.
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "kernels.h"

namespace hearth::cpu {
namespace {

int isa_rank(const char *name) {
  if (!name) return 99;
  if (!std::strcmp(name, "ref")) return 0;
  if (!std::strcmp(name, "avx2")) return 1;
  if (!std::strcmp(name, "avx512")) return 2;
  if (!std::strcmp(name, "neon")) return 1;
  if (!std::strcmp(name, "dotprod")) return 2;
  return 99;
}

// The AVX2 translation unit is compiled with -mavx2 -mfma -mf16c, the AVX-512 one with those and
// -mavx512f/bw/vl/vnni: a tier may run only where every one of its flags is supported.
bool runs_avx2(const cpu_features &f) { return f.avx2 && f.fma && f.f16c; }
bool runs_avx512(const cpu_features &f) { return runs_avx2(f) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni; }
// The dotprod translation unit is the NEON one compiled with +dotprod.
bool runs_neon(const cpu_features &f) { return f.neon; }
bool runs_dotprod(const cpu_features &f) { return f.neon && f.dotprod; }

}  // namespace

cpu_features detect_cpu_features() {
  cpu_features f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  // (clang's __builtin_cpu_supports does not know "f16c": CPUID leaf 1, ECX bit 29; its registers are AVX's,
  // whose OS support the avx2 check above includes)
  unsigned a = 0, b = 0, c = 0, d = 0;
  f.f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__) && defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
  f.neon = (hw & HWCAP_ASIMD) != 0;
  f.dotprod = (hw & HWCAP_ASIMDDP) != 0;
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is part of every AArch64 core; without Linux's HWCAP, no dot products assumed
#endif
  return f;
}

const kernel_table &choose_tier(const cpu_features &f, const char *cap_name) {
  const int cap = isa_rank(cap_name);
  if (cap >= 2 && runs_avx512(f) && avx512_kernels()) return *avx512_kernels();
  if (cap >= 1 && runs_avx2(f) && avx2_kernels()) return *avx2_kernels();
  if (cap >= 2 && runs_dotprod(f) && neon_dotprod_kernels()) return *neon_dotprod_kernels();
  if (cap >= 1 && runs_neon(f) && neon_kernels()) return *neon_kernels();
  return ref_kernels();
}

const kernel_table &kernels() {
  static const kernel_table &chosen = choose_tier(detect_cpu_features(), std::getenv("HEARTH_FORCE_ISA"));
  return chosen;
}

int available_tiers(const kernel_table **out, int cap) {
  const cpu_features f = detect_cpu_features();
  int n = 0;
  if (n < cap) out[n++] = &ref_kernels();
  if (n < cap && runs_avx2(f) && avx2_kernels()) out[n++] = avx2_kernels();
  if (n < cap && runs_avx512(f) && avx512_kernels()) out[n++] = avx512_kernels();
  if (n < cap && runs_neon(f) && neon_kernels()) out[n++] = neon_kernels();
  if (n < cap && runs_dotprod(f) && neon_dotprod_kernels()) out[n++] = neon_dotprod_kernels();
  return n;
}

}  // namespace hearth::cpu
