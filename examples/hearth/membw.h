// Measures the machine's memory read bandwidth: the ceiling decode speed is judged against.
#pragma once
#include <cstddef>

namespace hearth::cli {
// Best of `trials` parallel streaming reads of a buffer of `bytes`, on n_threads threads; bytes/second.
double measure_read_bandwidth(size_t bytes, int n_threads, int trials);
// A probe size that no cache can hold: 1 GiB or four times the last-level cache, whichever is larger (some
// servers have L3 caches of hundreds of MiB).
size_t probe_bytes();
// The last-level cache's size in bytes (the largest of L3, L2 that sysconf reports), 0 if unknown.
size_t last_level_cache_bytes();
// Peak resident set size of this process in bytes (getrusage high-water mark).
size_t peak_rss_bytes();
// Current resident set size in bytes (/proc/self/statm); 0 where unavailable.
size_t current_rss_bytes();
}  // namespace hearth::cli
