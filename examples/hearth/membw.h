// Measures the machine's memory read bandwidth: the ceiling decode speed is judged against.
#pragma once
#include <cstddef>

namespace hearth::cli {
// Best of `trials` parallel streaming reads of a buffer of `bytes`, on n_threads threads; bytes/second.
double measure_read_bandwidth(size_t bytes, int n_threads, int trials);
// Peak resident set size of this process in bytes.
size_t peak_rss_bytes();
}  // namespace hearth::cli
