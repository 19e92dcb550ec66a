// The "dotprod" tier's GEMM: neon/gemm.cpp compiled with +dotprod (anonymous namespace: no code shared).
#include "gemm.cpp"
