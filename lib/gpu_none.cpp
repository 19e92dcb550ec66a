// Built when CUDA is not compiled in.
#include "device.h"
#include "gpu.h"

namespace hearth {
int32_t gpu_device_count() { return 0; }
std::unique_ptr<device> make_cuda_device(std::string *why) {
  if (why) *why = "this build of hearth has no CUDA support";
  return nullptr;
}
}  // namespace hearth
