// A session's memory: every buffer its graph's operators read and write (activations sized for n_batch tokens,
// the KV caches, scratch), on the host or the device. The graph builder declares them, the session checks the
// total against its memory limit, then allocate() makes them; operators find them by id at run time, and the
// executor orders operators by the ids they read and write.
//
// Host buffers are anonymous memory maps: zero pages the OS supplies on first touch, so a long context costs
// memory only as it fills. Host buffers a transfer reads or writes ("staged") come from the device's pinned
// memory instead, so copies are asynchronous and the CPU operators work on them in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masks.h"
#include "ops.h"
#include "sparse_ffn.h"

namespace hearth {

class device;

enum class place : uint8_t { cpu = 0, gpu = 1 };
inline constexpr uint8_t bit(place p) { return (uint8_t)(1u << (uint8_t)p); }
const char *place_name(place p);

class workspace {
 public:
  workspace();
  ~workspace();
  workspace(const workspace &) = delete;
  workspace &operator=(const workspace &) = delete;

  // Declarations (nothing is allocated yet). Returns the resource id.
  int32_t host(const std::string &name, size_t bytes);
  int32_t device(const std::string &name, size_t bytes);
  // Typed CPU scratch, with the bytes it will grow to (for the estimate).
  int32_t q8(const std::string &name, size_t estimate);
  int32_t sparse(const std::string &name, size_t estimate);
  int32_t masks(const std::string &name, size_t estimate);
  void grow(int32_t id, size_t bytes);  // a declared buffer needs at least this many bytes
  void stage(int32_t id);  // a host buffer that a transfer reads or writes: pinned memory

  size_t host_bytes() const;    // what allocate() and the scratch's growth will take on the host
  size_t device_bytes() const;
  size_t count() const { return res_.size(); }
  const std::string &name(int32_t id) const;
  place where(int32_t id) const;

  // Allocates everything declared (dev: the device for device buffers and pinned staging; may be null when none
  // is declared). Throws HEARTH_ERR_OUT_OF_MEMORY naming the buffer that failed.
  void allocate(hearth::device *dev);

  template <class T = float>
  T *at(int32_t id) const { return (T *)res_[(size_t)id].ptr; }
  q8_scratch &q8_at(int32_t id) const { return *res_[(size_t)id].q8; }
  sparse_scratch &sparse_at(int32_t id) const { return *res_[(size_t)id].sp; }
  ffn_masks &masks_at(int32_t id) const { return *res_[(size_t)id].mk; }

 private:
  enum class kind : uint8_t { host, device, q8, sparse, masks };
  struct resource {
    std::string name;
    kind k;
    size_t bytes;
    bool staged = false;
    void *ptr = nullptr;
    std::unique_ptr<q8_scratch> q8;
    std::unique_ptr<sparse_scratch> sp;
    std::unique_ptr<ffn_masks> mk;
  };
  int32_t add(const std::string &name, kind k, size_t bytes);
  void release();
  std::vector<resource> res_;
  hearth::device *dev_ = nullptr;
};

}  // namespace hearth
