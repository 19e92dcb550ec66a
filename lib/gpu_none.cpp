// Built when CUDA is not compiled in.
#include "gpu.h"

namespace hearth {
int32_t gpu_device_count() { return 0; }
}  // namespace hearth
