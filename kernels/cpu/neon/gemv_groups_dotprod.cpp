// The "dotprod" tier's row-group kernels: neon/gemv_groups.cpp compiled with +dotprod (anonymous namespace: no
// code shared).
#include "gemv_groups.cpp"
