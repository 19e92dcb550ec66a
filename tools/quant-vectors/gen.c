// Test-vector generator: llama.cpp's quantizers (ggml-quants.c) over fixed inputs. Outside the hearth repo.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ggml.h"
#include "ggml-quants.h"

#define N 512
#define NCASE 8
static uint64_t st = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { st += 0x9E3779B97F4A7C15ull; uint64_t z = st; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; return z ^ (z >> 31); }
static double uni(void) { return (next() >> 11) * (1.0 / 9007199254740992.0); }
static double gauss(void) { double u = uni(), v = uni(); if (u < 1e-300) u = 1e-300; return sqrt(-2 * log(u)) * cos(6.283185307179586 * v); }

size_t ggml_row_size(enum ggml_type type, int64_t ne);
int main(void) {
  static float x[NCASE][N];
  for (int i = 0; i < N; ++i) {
    x[0][i] = (float)gauss();
    x[1][i] = (float)(0.02 * gauss() * (next() % 37 == 0 ? 20.0 : 1.0));
    x[2][i] = (float)uni();
    x[3][i] = 0.0f;
    x[4][i] = 0.37f;
    x[5][i] = (float)(gauss() * pow(10.0, (double)((i / 32) % 10) - 6.0)) * ((i % 29 == 0) ? 1000.0f : 1.0f);
    x[6][i] = (next() % 10 == 0) ? (float)fabs(gauss()) : 0.0f;
    x[7][i] = (float)(gauss() * 1e-18);
  }
  FILE *f = fopen("inputs.f32", "wb"); fwrite(x, sizeof x, 1, f); fclose(f);
  struct { const char *name; enum ggml_type t; } types[] = {
    {"Q4_0", GGML_TYPE_Q4_0}, {"Q4_1", GGML_TYPE_Q4_1}, {"Q5_0", GGML_TYPE_Q5_0}, {"Q5_1", GGML_TYPE_Q5_1},
    {"Q8_0", GGML_TYPE_Q8_0}, {"Q2_K", GGML_TYPE_Q2_K}, {"Q3_K", GGML_TYPE_Q3_K}, {"Q4_K", GGML_TYPE_Q4_K},
    {"Q5_K", GGML_TYPE_Q5_K}, {"Q6_K", GGML_TYPE_Q6_K}, {"IQ4_NL", GGML_TYPE_IQ4_NL}, {"IQ4_XS", GGML_TYPE_IQ4_XS},
  };
  for (size_t k = 0; k < sizeof types / sizeof types[0]; ++k) {
    char path[64]; snprintf(path, sizeof path, "%s.bin", types[k].name);
    FILE *o = fopen(path, "wb");
    snprintf(path, sizeof path, "%s.deq.f32", types[k].name);
    FILE *dq = fopen(path, "wb");
    for (int c = 0; c < NCASE; ++c) {
      unsigned char buf[N * 4];
      size_t sz;
      switch (types[k].t) {  // what llama-quantize runs (ggml_quantize_chunk without an importance matrix)
        case GGML_TYPE_Q4_0: sz = quantize_q4_0(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q4_1: sz = quantize_q4_1(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q5_0: sz = quantize_q5_0(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q5_1: sz = quantize_q5_1(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q8_0: sz = quantize_q8_0(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q2_K: sz = quantize_q2_K(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q3_K: sz = quantize_q3_K(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q4_K: sz = quantize_q4_K(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q5_K: sz = quantize_q5_K(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_Q6_K: sz = quantize_q6_K(x[c], buf, 1, N, NULL); break;
        case GGML_TYPE_IQ4_NL: sz = quantize_iq4_nl(x[c], buf, 1, N, NULL); break;
        default: sz = quantize_iq4_xs(x[c], buf, 1, N, NULL); break;
      }
      fwrite(buf, sz, 1, o);
      float deq[N];
      switch (types[k].t) {
        case GGML_TYPE_Q4_0: dequantize_row_q4_0((void *)buf, deq, N); break;
        case GGML_TYPE_Q4_1: dequantize_row_q4_1((void *)buf, deq, N); break;
        case GGML_TYPE_Q5_0: dequantize_row_q5_0((void *)buf, deq, N); break;
        case GGML_TYPE_Q5_1: dequantize_row_q5_1((void *)buf, deq, N); break;
        case GGML_TYPE_Q8_0: dequantize_row_q8_0((void *)buf, deq, N); break;
        case GGML_TYPE_Q2_K: dequantize_row_q2_K((void *)buf, deq, N); break;
        case GGML_TYPE_Q3_K: dequantize_row_q3_K((void *)buf, deq, N); break;
        case GGML_TYPE_Q4_K: dequantize_row_q4_K((void *)buf, deq, N); break;
        case GGML_TYPE_Q5_K: dequantize_row_q5_K((void *)buf, deq, N); break;
        case GGML_TYPE_Q6_K: dequantize_row_q6_K((void *)buf, deq, N); break;
        case GGML_TYPE_IQ4_NL: dequantize_row_iq4_nl((void *)buf, deq, N); break;
        default: dequantize_row_iq4_xs((void *)buf, deq, N); break;
      }
      fwrite(deq, sizeof deq, 1, dq);
    }
    fclose(o);
    fclose(dq);
  }
  // Q8_K and Q8_1 (activation formats): the reference rows
  FILE *o = fopen("Q8_K.bin", "wb");
  for (int c = 0; c < NCASE; ++c) { block_q8_K b[N / 256]; memset(b, 0, sizeof b); quantize_row_q8_K_ref(x[c], b, N); fwrite(b, sizeof b, 1, o); }
  fclose(o);
  o = fopen("Q8_1.bin", "wb");
  for (int c = 0; c < NCASE; ++c) { block_q8_1 b[N / 32]; quantize_row_q8_1_ref(x[c], b, N); fwrite(b, sizeof b, 1, o); }
  fclose(o);
  return 0;
}
