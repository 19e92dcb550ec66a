// <windows.h> as hearth includes it, on Windows only: without the rarely used APIs (WIN32_LEAN_AND_MEAN), without
// the min/max macros that break std::min (NOMINMAX), and with the process memory counters, taken from kernel32
// (PSAPI_VERSION 2: K32GetProcessMemoryInfo, so no psapi.dll to link).
#pragma once
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef PSAPI_VERSION
#define PSAPI_VERSION 2
#endif
#include <windows.h>
#include <psapi.h>
#endif
