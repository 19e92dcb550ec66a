// A read-only memory map of a whole file. Model weights are used in place, never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace hearth {

class mapped_file {
 public:
  explicit mapped_file(const std::string &path);  // throws hearth::error (HEARTH_ERR_IO)
  ~mapped_file();
  mapped_file(const mapped_file &) = delete;
  mapped_file &operator=(const mapped_file &) = delete;

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  // Reads every page once (prefault), calling progress(fraction) between chunks; returns false if it said stop.
  template <class Progress>
  bool touch(Progress &&progress) const {
    volatile uint8_t sink = 0;
    const size_t chunk = size_t(64) << 20;
    for (size_t off = 0; off < size_; off += chunk) {
      const size_t end = off + chunk < size_ ? off + chunk : size_;
      for (size_t p = off; p < end; p += 4096) sink = sink + data_[p];
      if (!progress((float)end / (float)size_)) return false;
    }
    return true;
  }

  // Hands the whole pages inside [p, p + bytes) back to the OS: the memory stops counting towards the process
  // (its RSS or working set) and a later read faults them in from the file again, so nothing can go wrong by
  // reading them. For weights the model keeps in another layout.
  void release(const uint8_t *p, size_t bytes) const;

 private:
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hearth
