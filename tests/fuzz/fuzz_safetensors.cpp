// libFuzzer target: any bytes as a safetensors file, opened and, when that succeeds, every tensor read as floats
// (the path `hearth import` takes). Every outcome must be a hearth::error or success: no crash, no sanitizer
// report, no other exception. Seeds: small files written by tests/fuzz/run.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "error.h"
#include "safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const int fd = memfd_create("hearth-fuzz-safetensors", 0);
  if (fd < 0) return 0;
  for (size_t done = 0; done < size;) {
    const ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  try {
    const auto f = hearth::safetensors_file::open("/proc/self/fd/" + std::to_string(fd));
    for (const hearth::st_tensor &t : f->tensors()) {
      try {
        (void)t.to_f32();
      } catch (const hearth::error &) {
      }
    }
  } catch (const hearth::error &) {
  }
  close(fd);
  return 0;
}
