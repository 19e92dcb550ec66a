// The session state's byte format (session_state.cpp) as far as code outside the session needs it: its checksum,
// so the state fuzzer (tests/fuzz/fuzz_state.cpp) can make mutated states that reach the parser behind it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hearth {

// The checksum a state ends with: of its first size - 8 bytes. Not cryptographic (see session_state.cpp).
uint64_t state_checksum(const uint8_t *p, size_t n);

}  // namespace hearth
