// Micro-benchmark (Google Benchmark): opening a GGUF file with many tensors and finding each by name, as a model
// load does. Files with ~18k tensors (MoE models: 3 per expert and layer, or per-expert tensors) took seconds to
// load when every lookup scanned the list.
//   build/bench/bench_gguf_lookup [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_writer.h"

namespace {

std::string make_file(int n) {
  const std::string path = fmt::format("/tmp/hearth-bench-{}-tensors.gguf", n);
  hearth::gguf_writer w;
  w.set_str("general.architecture", "bench");
  for (int i = 0; i < n; ++i)
    w.add_tensor(fmt::format("blk.{}.ffn_up_exps.{}.weight", i / 64, i % 64), hearth::dtype::f32, {8}, nullptr);
  w.write(path);
  return path;
}

void open_and_find_all(benchmark::State &state) {
  const int n = (int)state.range(0);
  const std::string path = make_file(n);
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back(fmt::format("blk.{}.ffn_up_exps.{}.weight", i / 64, i % 64));
  for (auto _ : state) {
    const auto f = hearth::gguf_file::open(path);
    size_t found = 0;
    for (const std::string &name : names) found += f->tensor(name) != nullptr;
    if (found != names.size()) state.SkipWithError("a tensor was not found");
    benchmark::DoNotOptimize(found);
  }
  state.SetItemsProcessed(state.iterations() * n);
  std::remove(path.c_str());
}

}  // namespace

BENCHMARK(open_and_find_all)->Arg(1000)->Arg(18000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
