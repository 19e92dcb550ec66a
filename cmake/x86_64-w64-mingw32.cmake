# Cross-building for 64-bit Windows with Debian's mingw-w64 (g++-mingw-w64-x86-64-posix: the posix thread model,
# which std::thread and oneTBB need), against a prefix of Windows builds of the dependencies made from Debian's
# source packages by tests/windows/deps. The tests then run under wine (tests/windows/run).
# Usage: HEARTH_WINDOWS_PREFIX=<that prefix> cmake -DCMAKE_TOOLCHAIN_FILE=cmake/x86_64-w64-mingw32.cmake ... (an
# environment variable, not a cache entry, so that CMake's try_compile projects see it too).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 $ENV{HEARTH_WINDOWS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Win64's ABI aligns the stack to 16 bytes, and GCC cannot realign it for the aligned 32- and 64-byte spills of AVX
# registers it emits, so an AVX2/AVX-512 kernel that spills crashes at random. The assembler rewrites every aligned
# vector move as an unaligned one (same speed on aligned data on the CPUs that have these tiers).
add_compile_options(-Wa,-muse-unaligned-vector-move)
# No host pkg-config directories: only the prefix's .pc files count.
set(ENV{PKG_CONFIG_LIBDIR} "$ENV{HEARTH_WINDOWS_PREFIX}/lib/pkgconfig:$ENV{HEARTH_WINDOWS_PREFIX}/share/pkgconfig")
# Debian's wine64 package puts the loader outside PATH.
find_program(HEARTH_WINE64 NAMES wine64 PATHS /usr/lib/wine NO_DEFAULT_PATH)
find_program(HEARTH_WINE64 NAMES wine64)
if(HEARTH_WINE64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${HEARTH_WINE64})
endif()
