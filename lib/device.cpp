#include "device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gpu.h"

namespace hearth {

std::unique_ptr<device> open_device(std::string *why) {
  // HEARTH_EMULATE_GPU=<MiB>[,<delay us>]: the emulated device (tests, and trying the hybrid path without a GPU)
  if (const char *e = std::getenv("HEARTH_EMULATE_GPU"); e && *e) {
    char *end = nullptr;
    const unsigned long long mib = std::strtoull(e, &end, 10);
    long delay = 0;
    if (end && *end == ',') delay = std::strtol(end + 1, nullptr, 10);
    if (mib > 0 && mib < (1ull << 24)) return make_emulated_device((size_t)mib << 20, (int32_t)std::max(0L, std::min(delay, 100000L)));
    if (why) *why = "HEARTH_EMULATE_GPU is not <MiB>[,<delay us>]";
    return nullptr;
  }
  return make_cuda_device(why);
}

}  // namespace hearth
