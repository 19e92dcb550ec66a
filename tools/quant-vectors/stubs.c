#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "ggml.h"
// The few ggml.c functions ggml-quants.c needs, with ggml's definitions of sizes.
void ggml_abort(const char *file, int line, const char *fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); abort(); }
static const struct { int blck; size_t sz; } T[] = {
  [GGML_TYPE_Q4_0] = {32, 18}, [GGML_TYPE_Q4_1] = {32, 20}, [GGML_TYPE_Q5_0] = {32, 22}, [GGML_TYPE_Q5_1] = {32, 24},
  [GGML_TYPE_Q8_0] = {32, 34}, [GGML_TYPE_Q2_K] = {256, 84}, [GGML_TYPE_Q3_K] = {256, 110}, [GGML_TYPE_Q4_K] = {256, 144},
  [GGML_TYPE_Q5_K] = {256, 176}, [GGML_TYPE_Q6_K] = {256, 210}, [GGML_TYPE_IQ4_NL] = {32, 18}, [GGML_TYPE_IQ4_XS] = {256, 136},
};
size_t ggml_row_size(enum ggml_type type, int64_t ne) { return T[type].sz * ne / T[type].blck; }

float ggml_table_f32_f16[1 << 16];
size_t ggml_type_size(enum ggml_type type) { return T[type].sz; }
const char *ggml_type_name(enum ggml_type type) { return "?"; }
__attribute__((constructor)) static void fill(void) { for (int i = 0; i < 65536; ++i) ggml_table_f32_f16[i] = _cvtsh_ss((unsigned short)i); }
