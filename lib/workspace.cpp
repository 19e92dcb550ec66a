#include "workspace.h"

#include <fmt/format.h>

#include <algorithm>

#include "device.h"
#include "error.h"
#include "memory.h"

namespace hearth {

const char *place_name(place p) { return p == place::gpu ? "GPU" : "CPU"; }

workspace::workspace() = default;
workspace::~workspace() { release(); }

int32_t workspace::add(const std::string &name, kind k, size_t bytes) {
  resource r;
  r.name = name;
  r.k = k;
  r.bytes = bytes;
  res_.push_back(std::move(r));
  return (int32_t)res_.size() - 1;
}

int32_t workspace::host(const std::string &name, size_t bytes) { return add(name, kind::host, bytes); }
int32_t workspace::device(const std::string &name, size_t bytes) { return add(name, kind::device, bytes); }
int32_t workspace::q8(const std::string &name, size_t estimate) { return add(name, kind::q8, estimate); }
int32_t workspace::sparse(const std::string &name, size_t estimate) { return add(name, kind::sparse, estimate); }
int32_t workspace::masks(const std::string &name, size_t estimate) { return add(name, kind::masks, estimate); }
void workspace::grow(int32_t id, size_t bytes) { res_[(size_t)id].bytes = std::max(res_[(size_t)id].bytes, bytes); }
void workspace::stage(int32_t id) { res_[(size_t)id].staged = true; }

size_t workspace::host_bytes() const {
  size_t b = 0;
  for (const resource &r : res_) b += r.k != kind::device ? r.bytes : 0;
  return b;
}

size_t workspace::device_bytes() const {
  size_t b = 0;
  for (const resource &r : res_) b += r.k == kind::device ? r.bytes : 0;
  return b;
}

const std::string &workspace::name(int32_t id) const { return res_[(size_t)id].name; }
place workspace::where(int32_t id) const { return res_[(size_t)id].k == kind::device ? place::gpu : place::cpu; }

void workspace::allocate(hearth::device *dev) {
  dev_ = dev;
  for (resource &r : res_) {
    const size_t bytes = std::max<size_t>(r.bytes, 64);
    switch (r.k) {
      case kind::host:
        r.ptr = r.staged && dev ? dev->alloc_pinned(bytes) : os_alloc(bytes);
        break;
      case kind::device:
        r.ptr = dev ? dev->alloc(bytes) : nullptr;
        break;
      case kind::q8:
        r.q8 = std::make_unique<q8_scratch>();
        r.ptr = r.q8.get();
        break;
      case kind::sparse:
        r.sp = std::make_unique<sparse_scratch>();
        r.ptr = r.sp.get();
        break;
      case kind::masks:
        r.mk = std::make_unique<ffn_masks>();
        r.ptr = r.mk.get();
        break;
    }
    if (!r.ptr)
      fail(HEARTH_ERR_OUT_OF_MEMORY, fmt::format("cannot allocate {} ({:.1f} MiB{})", r.name, bytes / 1048576.0,
                                                 r.k == kind::device ? " of device memory" : r.staged ? " of pinned memory" : ""));
  }
}

void workspace::release() {
  for (resource &r : res_) {
    if (!r.ptr) continue;
    if (r.k == kind::host) {
      if (r.staged && dev_) dev_->release_pinned(r.ptr);
      else os_free(r.ptr, std::max<size_t>(r.bytes, 64));
    } else if (r.k == kind::device && dev_) {
      dev_->release(r.ptr);
    }
    r.ptr = nullptr;
  }
}

}  // namespace hearth
