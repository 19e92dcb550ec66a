// What the machine offers beyond the CPU. A CUDA build with no driver or no device reports 0 devices: that is
// the CPU-only configuration, not an error.
#pragma once
#include <cstdint>

namespace hearth {
int32_t gpu_device_count();
}
