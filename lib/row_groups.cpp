#include "row_groups.h"

#include <cstring>
#include <type_traits>

#include "../kernels/cpu/kernels.h"

namespace hearth {
namespace {

// The file's block b of a row and the group's block b, through the two layouts (kernels.h): the scale moves to
// lane r of d, the quant bytes to lane r of each word k (Q8_0's as unsigned: ^ 0x80 both ways).
template <class Row, class Group>
void to_group(const Row &src, int r, Group &dst) {
  constexpr int words = sizeof(src.qs) / 4;
  constexpr uint32_t flip = std::is_same_v<Row, cpu::block_q8_0> ? 0x80 : 0;
  dst.d[r] = src.d;
  for (int k = 0; k < words; ++k) {
    uint32_t v;
    std::memcpy(&v, src.qs + 4 * k, 4);
    v ^= flip * 0x01010101u;
    std::memcpy(dst.qs[k][r], &v, 4);
  }
}
template <class Row, class Group>
void from_group(const Group &src, int r, Row &dst) {
  constexpr int words = sizeof(dst.qs) / 4;
  constexpr uint32_t flip = std::is_same_v<Row, cpu::block_q8_0> ? 0x80 : 0;
  dst.d = src.d[r];
  for (int k = 0; k < words; ++k) {
    uint32_t v;
    std::memcpy(&v, src.qs[k][r], 4);
    v ^= flip * 0x01010101u;
    std::memcpy(dst.qs + 4 * k, &v, 4);
  }
}

template <class Row, class Group>
void pack(const uint8_t *rows, size_t row_size, int nrows, int64_t cols, uint8_t *group) {
  const int64_t nb = cols / 32;
  Group *g = (Group *)group;
  std::memset(group, 0, (size_t)nb * sizeof(Group));
  for (int r = 0; r < nrows; ++r) {
    const Row *row = (const Row *)(rows + r * row_size);
    for (int64_t b = 0; b < nb; ++b) to_group(row[b], r, g[b]);
  }
}
template <class Row, class Group>
void unpack(const uint8_t *groups, int64_t cols, int64_t r, uint8_t *out) {
  const int64_t nb = cols / 32;
  const Group *g = (const Group *)groups + (r / cpu::k_group_rows) * nb;
  Row *row = (Row *)out;
  for (int64_t b = 0; b < nb; ++b) from_group(g[b], (int)(r % cpu::k_group_rows), row[b]);
}

}  // namespace

bool has_row_groups(dtype t) { return t == dtype::q4_0 || t == dtype::q8_0; }

size_t row_group_bytes(dtype t, int64_t cols) {
  return (size_t)(cols / 32) * (t == dtype::q4_0 ? sizeof(cpu::block_q4_0x16) : sizeof(cpu::block_q8_0x16));
}

size_t row_groups_bytes(dtype t, int64_t rows, int64_t cols) {
  return (size_t)((rows + cpu::k_group_rows - 1) / cpu::k_group_rows) * row_group_bytes(t, cols);
}

void pack_row_group(dtype t, const uint8_t *rows, size_t row_size, int nrows, int64_t cols, uint8_t *group) {
  if (t == dtype::q4_0) pack<cpu::block_q4_0, cpu::block_q4_0x16>(rows, row_size, nrows, cols, group);
  else pack<cpu::block_q8_0, cpu::block_q8_0x16>(rows, row_size, nrows, cols, group);
}

void unpack_row(dtype t, const uint8_t *groups, int64_t cols, int64_t r, uint8_t *row) {
  if (t == dtype::q4_0) unpack<cpu::block_q4_0, cpu::block_q4_0x16>(groups, cols, r, row);
  else unpack<cpu::block_q8_0, cpu::block_q8_0x16>(groups, cols, r, row);
}

}  // namespace hearth
