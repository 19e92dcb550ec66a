#include "file_replace.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "error.h"
#include "utf8.h"

namespace hearth {
namespace {
FILE *create_file(const std::filesystem::path &p) {
#ifdef _WIN32
  return _wfopen(p.c_str(), L"wb");
#else
  return std::fopen(p.c_str(), "wb");
#endif
}
}  // namespace

void write_file_replacing(const std::string &path, const std::function<void(const append_fn &write)> &body) {
  const std::filesystem::path final_path = utf8_path(path), partial = utf8_path(path + ".partial");
  struct remove_on_failure {
    const std::filesystem::path &p;
    bool done = false;
    ~remove_on_failure() {
      std::error_code ec;
      if (!done) std::filesystem::remove(p, ec);
    }
  } cleanup{partial};
  std::unique_ptr<FILE, int (*)(FILE *)> f(create_file(partial), std::fclose);
  if (!f) fail(HEARTH_ERR_IO, "cannot create '" + path + ".partial': " + std::strerror(errno));
  body([&](const void *p, size_t n) {
    if (n && std::fwrite(p, 1, n, f.get()) != n) fail(HEARTH_ERR_IO, "write to '" + path + "' failed (disk full?)");
  });
  if (std::fclose(f.release()) != 0) fail(HEARTH_ERR_IO, "write to '" + path + "' failed");
  std::error_code ec;
  std::filesystem::rename(partial, final_path, ec);
  if (ec) fail(HEARTH_ERR_IO, "cannot replace '" + path + "': " + ec.message());
  cleanup.done = true;
}

}  // namespace hearth
