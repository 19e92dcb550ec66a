// PowerInfer's GPU index files (.gpuidx): which neurons of each layer it keeps on the GPU.
#pragma once
#include <cstdint>
#include <string>

#include "placement.h"

namespace hearth {

// PowerInfer's .gpuidx (GGUF, magic PWRI, arch generic.gpu_index): per layer blk.N.gpu_idx (I32 [n_ff], 1 = GPU) and
// blk.N.gpu_bucket (I32, ascending GPU neuron ids), in that order, read by position. Written with PowerInfer's
// type numbering (I32 = 18, gguf.h), which its reader needs (it divides by the block size of an unknown type);
// read with either numbering (hearth's files before 0.2 wrote I32 as 26). Throws hearth::error.
void write_gpuidx(const std::string &path, const placement &p, int64_t n_ff, uint64_t vram_capacity);
placement read_gpuidx(const std::string &path, int32_t n_layer, int64_t n_ff);

}  // namespace hearth
