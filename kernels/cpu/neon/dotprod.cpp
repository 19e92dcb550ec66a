// The "dotprod" tier: neon/dot.cpp compiled with +dotprod (ARMv8.2's SDOT), chosen where the CPU reports
// asimddp. Everything in that file sits in an anonymous namespace, so this copy shares no code with the plain one.
#include "dot.cpp"
