// The Win32 branch of lib/mapped_file.cpp, built with mingw-w64 and run under wine (tests/windows/run): the rest of
// the library needs oneTBB and PCRE2 built for Windows, which Debian does not package, so this is the part of the
// Windows port that can run here. Exits non-zero on the first failed check.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "error.h"
#include "mapped_file.h"

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) std::printf("FAILED line %d: %s\n", __LINE__, #cond), ++failures; \
  } while (0)

static int status_of(const std::string &path, std::string *what) {
  try {
    hearth::mapped_file m(path);
    return 0;
  } catch (const hearth::error &e) {
    *what = e.what();
    return e.status();
  }
}

int main() {
  std::string data(70000, '\0');  // more than one 64 KiB allocation granule
  for (size_t i = 0; i < data.size(); ++i) data[i] = (char)(i * 131 + 7);
  std::ofstream("hearth-map.bin", std::ios::binary).write(data.data(), (std::streamsize)data.size());
  {
    hearth::mapped_file m("hearth-map.bin");
    CHECK(m.size() == data.size());
    CHECK(std::memcmp(m.data(), data.data(), data.size()) == 0);
    int calls = 0;
    CHECK(m.touch([&](float f) { ++calls; return f <= 1.0f; }));
    CHECK(calls == 1);
  }
  // a UTF-8 name, opened through its wide-character form
  const std::string utf8 = "hearth-\xc3\xa9t\xc3\xa9.bin";
  std::ofstream(L"hearth-\u00e9t\u00e9.bin", std::ios::binary) << "GGUF";  // written by its wide name
  {
    hearth::mapped_file m(utf8);
    CHECK(m.size() == 4 && std::memcmp(m.data(), "GGUF", 4) == 0);
  }
  std::string what;
  CHECK(status_of("no-such-file.gguf", &what) == HEARTH_ERR_IO);
  CHECK(what.find("cannot open 'no-such-file.gguf'") != std::string::npos);
  std::ofstream("hearth-empty.bin", std::ios::binary).flush();
  CHECK(status_of("hearth-empty.bin", &what) == HEARTH_ERR_BAD_FORMAT);
  CHECK(what.find("is empty") != std::string::npos);
  CHECK(status_of("hearth-\xff.bin", &what) == HEARTH_ERR_INVALID_ARGUMENT);  // not UTF-8
  CHECK(status_of(".", &what) == HEARTH_ERR_IO);                              // a directory
  std::printf("%s: %d failed\n", failures ? "FAILED" : "mapped_file (Win32) passed", failures);
  return failures ? 1 : 0;
}
