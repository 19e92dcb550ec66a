// Micro-benchmark of the dense dot kernels per type and tier: one thread streaming a matrix far larger than the
// caches against one activation vector (decode's matrix-vector work), reported as bytes of weights per second.
// Whole-model speed is `hearth bench`'s.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "../kernels/cpu/kernels.h"
#include "dtype.h"
#include "ops.h"
#include "row_groups.h"

using namespace hearth;

namespace {

// A rows x cols matrix of type t: 64 distinct rows, repeated (encoding every row would take minutes).
std::vector<uint8_t> make_matrix(dtype t, int64_t cols, int64_t rows, std::mt19937 &rng) {
  const size_t rb = row_bytes(t, cols);
  std::vector<uint8_t> w(rb * (size_t)rows);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> row((size_t)cols);
  for (int64_t r = 0; r < 64; ++r) {
    for (float &v : row) v = g(rng);
    quantize_row(t, row.data(), w.data() + r * rb, cols);
  }
  for (int64_t r = 64; r < rows; ++r) std::copy(w.begin() + (long)((r % 64) * rb), w.begin() + (long)((r % 64 + 1) * rb), w.begin() + (long)(r * rb));
  return w;
}

std::vector<float> random_row(int64_t cols, std::mt19937 &rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> row((size_t)cols);
  for (float &v : row) v = g(rng);
  return row;
}

void bm_dot(benchmark::State &state, const cpu::kernel_table *k, dtype t) {
  const int64_t cols = 4096, rows = 131072;  // 512 Mi values: 288-576 MiB in the 4-8 bit types, past the caches
  const size_t rb = row_bytes(t, cols);
  std::mt19937 rng(1);
  const std::vector<uint8_t> w = make_matrix(t, cols, rows, rng);
  const std::vector<float> row = random_row(cols, rng);
  q8_scratch qs;
  const activations act = prepare_activations(t, row.data(), 1, cols, qs);
  const cpu::q8_aux aux = act.aux(0);
  const cpu::dot_fn dot = k->of(t).dot;
  float out = 0, sink = 0;
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) {
      dot(cols, w.data() + r * rb, act.data, act.stride, &aux, 1, &out);
      sink += out;
    }
    benchmark::DoNotOptimize(sink);
  }
  state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)w.size());
}

// The same float matrix through the tier's four-rows-at-a-time kernel (what decode reads for F32/F16/BF16).
void bm_rows(benchmark::State &state, const cpu::kernel_table *k, dtype t) {
  const int64_t cols = 4096, rows = 65536;  // 512 MiB of F16
  std::mt19937 rng(1);
  const std::vector<uint8_t> w = make_matrix(t, cols, rows, rng);
  const std::vector<float> x = random_row(cols, rng);
  std::vector<float> y((size_t)rows);
  const size_t rb = row_bytes(t, cols);
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; r += 128)  // matmul's tasks of 128 rows
      k->of(t).gemv_rows(cols, w.data() + r * rb, rb, 128, x.data(), y.data() + r);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)w.size());
}

// The same matrix repacked into row groups (what a loaded model's decode reads), through the tier's group kernel.
void bm_groups(benchmark::State &state, const cpu::kernel_table *k, dtype t) {
  const int64_t cols = 4096, rows = 131072;
  const size_t rb = row_bytes(t, cols), gb = row_group_bytes(t, cols);
  std::vector<uint8_t> w(rb * cpu::k_group_rows * 4), groups(row_groups_bytes(t, rows, cols));
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> row((size_t)cols);
  for (int64_t r = 0; r < cpu::k_group_rows * 4; ++r) {
    for (float &v : row) v = g(rng);
    quantize_row(t, row.data(), w.data() + r * rb, cols);
  }
  for (int64_t gi = 0; gi < rows / cpu::k_group_rows; ++gi)
    pack_row_group(t, w.data() + (gi % 4) * cpu::k_group_rows * rb, rb, cpu::k_group_rows, cols, groups.data() + gi * gb);
  for (float &v : row) v = g(rng);
  q8_scratch qs;
  const activations act = prepare_activations(t, row.data(), 1, cols, qs);
  const cpu::q8_aux aux = act.aux(0);
  std::vector<float> y((size_t)rows);
  for (auto _ : state) {
    k->of(t).gemv_groups(cols, groups.data(), rows, act.data, &aux, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)groups.size());
}

const int registered = [] {
  const cpu::kernel_table *tiers[8];
  const int n = cpu::available_tiers(tiers, 8);
  for (int i = 1; i < n; ++i)  // the SIMD tiers (the reference tier is an oracle, not a contender)
    for (dtype t : {dtype::q4_0, dtype::q8_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::iq4_nl, dtype::q2_k, dtype::q3_k,
                    dtype::q4_k, dtype::q5_k, dtype::q6_k, dtype::iq4_xs, dtype::f16, dtype::bf16})
      benchmark::RegisterBenchmark((std::string(tiers[i]->isa) + "/" + type_name(t)).c_str(), bm_dot, tiers[i], t)
          ->Unit(benchmark::kMillisecond)->MinTime(0.5);
  for (int i = 1; i < n; ++i)
    for (dtype t : {dtype::f16, dtype::bf16})
      if (tiers[i]->of(t).gemv_rows)
        benchmark::RegisterBenchmark((std::string(tiers[i]->isa) + "/" + type_name(t) + "/rows").c_str(), bm_rows, tiers[i], t)
            ->Unit(benchmark::kMillisecond)->MinTime(0.5);
  for (int i = 1; i < n; ++i)
    for (dtype t : {dtype::q4_0, dtype::q8_0})
      if (tiers[i]->of(t).gemv_groups)
        benchmark::RegisterBenchmark((std::string(tiers[i]->isa) + "/" + type_name(t) + "/groups").c_str(), bm_groups, tiers[i], t)
            ->Unit(benchmark::kMillisecond)->MinTime(0.5);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
