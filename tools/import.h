// Trained weights into a GGUF file: the template (a GGUF of the same architecture and shape, e.g. from
// `hearth synth`, carrying the metadata and the vocabulary) names every tensor; a safetensors file gives each
// one's values, by the same GGUF name, in PyTorch's row-major shape (the reverse of GGUF's ne). Matrices are
// stored as matrix_type, vectors as F32.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "dtype.h"
#include "gguf.h"
#include "safetensors.h"

namespace hearth {

struct import_options {
  dtype matrix_type = dtype::f16;
  std::vector<std::pair<std::string, float>> meta_f32;  // extra F32 keys (a training script's figures)
};

// Throws hearth::error: BAD_FORMAT naming a tensor the weights lack, one they have that the template does not,
// or a shape that differs; INVALID_ARGUMENT for a matrix whose rows do not divide into matrix_type's blocks.
void import_weights(const gguf_file &tmpl, const safetensors_file &weights, const import_options &opt, const std::string &out);

}  // namespace hearth
