#include "graph_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "device.h"
#include "error.h"

namespace hearth {

std::string graph::dump(const workspace &ws) const {
  std::string s;
  auto names = [&](const std::vector<int32_t> &ids) {
    std::string r;
    for (int32_t id : ids) r += (r.empty() ? "" : ", ") + ws.name(id);
    return r;
  };
  for (const node &n : nodes) s += fmt::format("{:<4} {:<28} {} -> {}\n", place_name(n.where), n.name, names(n.reads), names(n.writes));
  return s;
}

graph_builder::graph_builder(const build_inputs &in) : in_(in) {}

value graph_builder::make(const std::string &name, int64_t width) {
  storage s;
  s.name = name;
  s.width = width;
  storage_.push_back(s);
  return {name, (int32_t)storage_.size() - 1, 0, width};
}

std::vector<value> graph_builder::make_group(const std::string &name, std::initializer_list<std::pair<const char *, int64_t>> parts) {
  storage s;
  s.name = name;
  std::vector<value> out;
  for (const auto &[part, width] : parts) {
    out.push_back({part, (int32_t)storage_.size(), s.width, width});
    s.width += width;
  }
  storage_.push_back(s);
  return out;
}

value graph_builder::temporary(const std::string &role, const std::string &name, int64_t width) {
  auto [it, fresh] = temporaries_.try_emplace(role, (int32_t)storage_.size());
  if (fresh) {
    storage_.push_back({role, width, {-1, -1}});
  } else {
    storage &s = storage_[(size_t)it->second];
    if (width > s.width) {
      s.width = width;
      for (int32_t id : s.res)
        if (id >= 0) in_.ws->grow(id, (size_t)in_.n_batch * (size_t)width * sizeof(float));
    }
    // what an earlier layer left in it is not this value
    current_.erase(current_.lower_bound({it->second, INT64_MIN}), current_.upper_bound({it->second, INT64_MAX}));
  }
  return {name, it->second, 0, width};
}

int32_t graph_builder::res(const value &v, place p) {
  storage &s = storage_[(size_t)v.storage];
  int32_t &id = s.res[(int)p];
  if (id < 0) {
    const size_t bytes = (size_t)in_.n_batch * (size_t)s.width * sizeof(float);
    const std::string name = s.name + (p == place::gpu ? "@gpu" : "");
    id = p == place::gpu ? in_.ws->device(name, bytes) : in_.ws->host(name, bytes);
  }
  return id;
}

uint8_t &graph_builder::cur(const value &v) { return current_[{v.storage, v.offset}]; }

bool graph_builder::current(const value &v, place p) const {
  const auto it = current_.find({v.storage, v.offset});
  return it != current_.end() && (it->second & bit(p));
}

void graph_builder::wrote(const value &v, place p) { cur(v) = bit(p); }

loc graph_builder::at(const value &v, place p) { return {in_.ws, res(v, p), v.offset}; }

void graph_builder::transfer(int32_t si, int64_t offset, int64_t width, place to, const std::string &what) {
  storage &s = storage_[(size_t)si];
  value probe{s.name, si, 0, 0};
  const int32_t host = res(probe, place::cpu), dev = res(probe, place::gpu);
  in_.ws->stage(host);
  node n;
  n.name = fmt::format("{} {}", to == place::gpu ? "upload" : "download", what);
  n.kind = node_kind::transfer;
  n.where = place::gpu;  // enqueued on the stream
  n.reads = {to == place::gpu ? host : dev};
  n.writes = {to == place::gpu ? dev : host};
  workspace *ws = in_.ws;
  const step_state *st = in_.st;
  device_stream *stream = in_.stream;
  n.run = [=](node &) {
    const size_t off = (size_t)(offset * st->n) * sizeof(float), bytes = (size_t)(width * st->n) * sizeof(float);
    uint8_t *h = ws->at<uint8_t>(host) + off, *d = ws->at<uint8_t>(dev) + off;
    if (to == place::gpu) stream->upload(d, h, bytes);
    else stream->download(h, d, bytes);
  };
  add(std::move(n));
}

void graph_builder::need(const value &v, place p) { need({&v}, p); }

void graph_builder::need(std::initializer_list<const value *> vs, place p) {
  if (!in_.stream && p == place::gpu) fail(HEARTH_ERR_INTERNAL, "graph: a GPU node without a device");
  std::vector<const value *> stale;
  for (const value *v : vs) {
    if (current(*v, p)) continue;
    const place other = p == place::gpu ? place::cpu : place::gpu;
    if (!current(*v, other)) fail(HEARTH_ERR_INTERNAL, "graph: " + v->name + " is read before it is written");
    stale.push_back(v);
  }
  // Adjacent regions of one storage move together.
  std::sort(stale.begin(), stale.end(), [](const value *a, const value *b) {
    return a->storage != b->storage ? a->storage < b->storage : a->offset < b->offset;
  });
  for (size_t i = 0; i < stale.size();) {
    size_t j = i + 1;
    int64_t end = stale[i]->offset + stale[i]->width;
    std::string what = stale[i]->name;
    while (j < stale.size() && stale[j]->storage == stale[i]->storage && stale[j]->offset == end) {
      end += stale[j]->width;
      what += "+" + stale[j]->name;
      ++j;
    }
    transfer(stale[i]->storage, stale[i]->offset, end - stale[i]->offset, p, what);
    for (size_t k = i; k < j; ++k) cur(*stale[k]) |= bit(p);
    i = j;
  }
}

node &graph_builder::add(node n) {
  g_.nodes.push_back(std::move(n));
  return g_.nodes.back();
}

graph graph_builder::finish() { return std::move(g_); }

}  // namespace hearth
