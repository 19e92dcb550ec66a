// Runs where a CUDA device exists; elsewhere it reports a skip. Without a driver the library must still say
// "0 devices" rather than fail, which is checked here on every machine.
#include <cstdio>

#include "hearth.h"

int main() {
  const int n = hearth_gpu_count();
  if (n < 0) return 1;
  if (n == 0) {
    std::printf("no CUDA device: skipped (CPU-only fallback reported 0 devices)\n");
    return 77;
  }
  std::printf("%d CUDA device(s)\n", n);
  return 0;
}
