// CUDA device discovery. Every CUDA error here (no driver: cudaErrorInsufficientDriver; no device:
// cudaErrorNoDevice) means "run on the CPU", so the answer is a count, never a failure.
#include <cuda_runtime.h>

#include <cstdint>

namespace hearth {

int32_t gpu_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

}  // namespace hearth
