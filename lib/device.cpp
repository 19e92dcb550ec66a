#include "device.h"

#include <mutex>

#include "gpu.h"

namespace hearth {
namespace {

std::mutex &opener_mutex() {
  static std::mutex m;
  return m;
}
device_opener &opener() {
  static device_opener o;
  return o;
}

}  // namespace

void set_device_opener(device_opener o) {
  std::lock_guard<std::mutex> g(opener_mutex());
  opener() = std::move(o);
}

std::unique_ptr<device> open_device(std::string *why) {
  device_opener o;
  {
    std::lock_guard<std::mutex> g(opener_mutex());
    o = opener();
  }
  return o ? o(why) : make_cuda_device(why);
}

}  // namespace hearth
