// Micro-benchmark (Google Benchmark): tokenizing 1 MB of English prose on one thread with real vocabularies
// (byte-level BPE: falcon, gpt-2; SentencePiece: llama-spm), and detokenizing it again. The prose is the
// licence texts Debian ships in /usr/share/common-licenses (or the file HEARTH_BENCH_TEXT names), repeated to
// 1 MB (see below for the text once).
//   build/bench/bench_tokenizer [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model.h"

namespace {

// repeat: to 1 MB (the shipped licences are 264 KB), else the text once.
std::string prose(bool repeat = true) {
  std::string text;
  auto add = [&](const std::filesystem::path &p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    text += ss.str();
  };
  if (const char *file = std::getenv("HEARTH_BENCH_TEXT")) {
    add(file);
  } else {
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator("/usr/share/common-licenses", ec))
      if (e.is_regular_file()) add(e.path());
  }
  if (text.empty()) text = "The quick brown fox jumps over the lazy dog. ";
  if (!repeat) return text;
  std::string out;
  while (out.size() < (1u << 20)) out += text;
  out.resize(1u << 20);
  while (!out.empty() && ((unsigned char)out.back() & 0xc0) == 0x80) out.pop_back();  // end on a character
  if (!out.empty() && (unsigned char)out.back() >= 0xc0) out.pop_back();
  return out;
}

std::shared_ptr<const hearth::model> vocab(const char *name) {
  hearth::model_config c;
  c.vocab_only = true;
  return hearth::model::load(std::string(HEARTH_SOURCE_DIR "/tests/data/ggml-vocab-") + name + ".gguf", c);
}

void tokenize(benchmark::State &state, const char *name, bool repeat) {
  const auto m = vocab(name);
  const std::string text = prose(repeat);
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    m->tok().encode(text, false, false, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed((int64_t)(state.iterations() * text.size()));
  state.counters["tokens"] = (double)ids.size();
}

void detokenize(benchmark::State &state, const char *name) {
  const auto m = vocab(name);
  const std::string text = prose();
  std::vector<int32_t> ids;
  m->tok().encode(text, false, false, ids);
  for (auto _ : state) {
    const std::string back = m->tok().decode(ids, false);
    if (back != text) state.SkipWithError("the text did not round-trip");
    benchmark::DoNotOptimize(back.data());
  }
  state.SetBytesProcessed((int64_t)(state.iterations() * text.size()));
}

// Words repeat in any prose, and the tokenizer reuses a word's tokens within one call: the 1 MB text repeats the
// licences about four times, so *_once (each licence once) shows the rate without repetition beyond the text's own.
BENCHMARK_CAPTURE(tokenize, falcon, "falcon", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tokenize, falcon_once, "falcon", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tokenize, gpt2, "gpt-2", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tokenize, llama_spm, "llama-spm", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(detokenize, falcon, "falcon")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
