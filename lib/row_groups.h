// A matrix's rows as the file has them, and as row groups (kernels/cpu/kernels.h): the layout decode's
// one-token product reads. The model repacks at load the matrices every token reads whole (row_groups_for), and
// the prompt GEMM reads rows back out of the groups, so the file's pages of a repacked matrix are not needed.
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype.h"

namespace hearth {

bool has_row_groups(dtype t);                      // Q4_0, Q8_0
size_t row_group_bytes(dtype t, int64_t cols);     // one group of 16 rows
size_t row_groups_bytes(dtype t, int64_t rows, int64_t cols);  // ceil(rows / 16) groups
// One group from nrows (1..16) rows of cols elements row_size bytes apart; the lanes past nrows are zero.
void pack_row_group(dtype t, const uint8_t *rows, size_t row_size, int nrows, int64_t cols, uint8_t *group);
// Row r of a matrix in row groups, back in the file's layout (row_bytes(t, cols) bytes).
void unpack_row(dtype t, const uint8_t *groups, int64_t cols, int64_t r, uint8_t *row);

}  // namespace hearth
