// Reference encoders and decoders of the block types: llama.cpp's algorithms and rounding, so a
// tensor hearth quantizes is byte-for-byte the one llama-quantize writes from the same floats (without an
// importance matrix). dtype.cpp's traits rows point here; nothing else should call these directly.
//
// Every function takes n elements, a multiple of the type's block size. Non-finite inputs are read as 0 (as in
// dtype.cpp); for finite inputs the bytes equal llama.cpp's.
#pragma once
#include <cstdint>

namespace hearth::quants {

void encode_q4_0(const float *x, void *y, int64_t n);
void encode_q8_0(const float *x, void *y, int64_t n);
void encode_q4_1(const float *x, void *y, int64_t n);
void encode_q5_0(const float *x, void *y, int64_t n);
void encode_q5_1(const float *x, void *y, int64_t n);
void encode_q8_1(const float *x, void *y, int64_t n);
void encode_q2_k(const float *x, void *y, int64_t n);
void encode_q3_k(const float *x, void *y, int64_t n);
void encode_q4_k(const float *x, void *y, int64_t n);
void encode_q5_k(const float *x, void *y, int64_t n);
void encode_q6_k(const float *x, void *y, int64_t n);
void encode_q8_k(const float *x, void *y, int64_t n);
void encode_iq4_nl(const float *x, void *y, int64_t n);
void encode_iq4_xs(const float *x, void *y, int64_t n);

void decode_q4_0(const void *x, float *y, int64_t n);
void decode_q8_0(const void *x, float *y, int64_t n);
void decode_q4_1(const void *x, float *y, int64_t n);
void decode_q5_0(const void *x, float *y, int64_t n);
void decode_q5_1(const void *x, float *y, int64_t n);
void decode_q8_1(const void *x, float *y, int64_t n);
void decode_q2_k(const void *x, float *y, int64_t n);
void decode_q3_k(const void *x, float *y, int64_t n);
void decode_q4_k(const void *x, float *y, int64_t n);
void decode_q5_k(const void *x, float *y, int64_t n);
void decode_q6_k(const void *x, float *y, int64_t n);
void decode_q8_k(const void *x, float *y, int64_t n);
void decode_iq4_nl(const void *x, float *y, int64_t n);
void decode_iq4_xs(const void *x, float *y, int64_t n);

}  // namespace hearth::quants
