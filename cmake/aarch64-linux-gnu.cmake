# Cross-building for 64-bit ARM Linux with Debian's toolchain (g++-aarch64-linux-gnu) against the arm64 packages
# of multiarch (libtbb-dev:arm64, ...); the tests then run under qemu-user (tests/aarch64/run).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# qemu runs the multiarch loader (/lib/ld-linux-aarch64.so.1 from libc6:arm64, which libtbb-dev:arm64 pulls in), not
# the cross package's /usr/aarch64-linux-gnu one: the libraries resolve to the multiarch libc.so.6, and a loader
# from another glibc build disagrees with it on the private _rtld_global layout (the first pthread_create then
# loops forever in get_cached_stack).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
