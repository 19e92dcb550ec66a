#include "test_util.h"

#include <fmt/format.h>
#ifdef _WIN32
#include "windows_api.h"
#else
#include <unistd.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <cstring>
#include <mutex>

#include "gguf.h"
#include "gguf_writer.h"

namespace hearth::test {
namespace {
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
#ifdef _WIN32
    // No mkdtemp: a name from the process id and the clock, created exclusively (create_directory is false when
    // the directory already exists).
    const auto base = std::filesystem::temp_directory_path();
    for (unsigned attempt = 0;; ++attempt) {
      path = base / fmt::format("hearth-test-{}-{}-{}", GetCurrentProcessId(), GetTickCount64(), attempt);
      if (std::filesystem::create_directory(path)) break;
    }
#else
    char tmpl[] = "/tmp/hearth-test-XXXXXX";
    path = mkdtemp(tmpl);
#endif
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};
temp_dir &dir() {
  static temp_dir d;
  return d;
}
}  // namespace

std::string temp_path(const std::string &name) {
  static int counter = 0;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  return (dir().path / fmt::format("{}-{}", counter++, name)).string();
}

std::string synth_model(const synth_config &c) {
  static std::map<std::string, std::string> cache;
  static std::mutex mu;
  const std::string key = fmt::format("{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}", c.n_vocab, c.n_embd, c.n_layer, c.n_ff,
                                      c.n_head, c.n_head_kv, (int)c.type, c.ffn, c.tied_output, c.seed, c.n_ctx, c.sparsity,
                                      c.hot_fraction, c.hot_coverage, c.predictor_rank, (int)c.predictor_type, c.llama_layout,
                                      c.frequency_record, c.tokenizer, c.pre + "-" + c.arch + "-" + std::to_string(c.head_dim) + (c.falcon_norm2 ? "-n2" : "") + (c.neuron_major ? "-nm" : "") +
                                                          (c.n_expert ? fmt::format("-moe{}.{}.{}", c.n_expert, c.n_expert_used, c.expert_skew) : ""));
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string path = (dir().path / ("model-" + key + ".gguf")).string();
  write_synthetic_model(path, c, builtin_corpus());
  cache[key] = path;
  return path;
}

synth_config small_config(dtype type, const std::string &ffn) {
  synth_config c;
  c.n_vocab = 512;
  c.n_embd = 64;
  c.n_layer = 2;
  c.n_ff = 160;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ctx = 256;
  c.type = type;
  c.ffn = ffn;
  return c;
}

std::string read_text(const std::string &path) {
  const std::vector<uint8_t> b = read_file(path);
  return std::string(b.begin(), b.end());
}

std::vector<uint8_t> read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write((const char *)bytes.data(), (std::streamsize)bytes.size());
}

std::string rewrite_model(const std::string &src, const std::vector<std::pair<std::string, uint32_t>> &set_u32,
                          const std::vector<std::string> &drop) {
  const auto f = gguf_file::open(src);
  gguf_writer w;
  w.set_pwri(f->pwri());
  for (const gguf_kv &kv : f->kvs()) {
    bool replaced = false;
    for (const auto &[k, v] : set_u32) replaced = replaced || k == kv.key;
    if (!replaced && kv.key != "general.alignment") w.set_value(kv.key, kv.value);
  }
  for (const auto &[k, v] : set_u32) w.set_u32(k, v);
  for (const gguf_tensor &t : f->tensors()) {
    bool dropped = false;
    for (const std::string &d : drop) dropped = dropped || t.name.ends_with(d);
    if (dropped) continue;
    const gguf_tensor *tp = &t;
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), [tp](uint8_t *dst, size_t n) { std::memcpy(dst, tp->data, n); });
  }
  const std::string out = temp_path("rewritten.gguf");
  w.write(out);
  return out;
}

size_t resident_bytes() {
#ifdef _WIN32
  PROCESS_MEMORY_COUNTERS c{};
  return GetProcessMemoryInfo(GetCurrentProcess(), &c, sizeof c) ? c.WorkingSetSize : 0;
#else
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * (size_t)sysconf(_SC_PAGESIZE);
#endif
}

void write_test_vocab(gguf_writer &w) {
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) toks.push_back(fmt::format("<0x{:02X}>", b)), types.push_back(6);
  for (char c = 'a'; c <= 'z'; ++c) toks.push_back(std::string("\xe2\x96\x81") + c), types.push_back(1);
  w.set_str("tokenizer.ggml.model", "llama");
  w.set_arr_str("tokenizer.ggml.tokens", toks);
  w.set_arr_f32("tokenizer.ggml.scores", std::vector<float>(toks.size(), 0.0f));
  w.set_arr_i32("tokenizer.ggml.token_type", types);
}

void add_random_f32(gguf_writer &w, std::mt19937 &rng, const std::string &name, const std::vector<int64_t> &ne, float scale,
                    float center) {
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t e : ne) n *= e;
  std::vector<float> data((size_t)n);
  for (float &x : data) x = center + scale * uni(rng);
  w.add_tensor(name, dtype::f32, ne, [data](uint8_t *dst, size_t bytes) { std::memcpy(dst, data.data(), bytes); });
}

}  // namespace hearth::test
