#include "mapped_file.h"

#include <cerrno>
#include <cstring>

#include "error.h"

#if defined(_WIN32)
#include "windows_api.h"
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace hearth {

#if defined(_WIN32)
namespace {

std::string win32_message(DWORD code) {
  char buf[512];
  const DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code, 0, buf,
                                 sizeof buf, nullptr);
  std::string s(buf, n);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '.')) s.pop_back();
  return s.empty() ? "error " + std::to_string(code) : s;
}

// Paths are UTF-8 in the C API; Windows opens wide-character ones.
std::wstring widen(const std::string &path) {
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path.data(), (int)path.size(), nullptr, 0);
  if (n <= 0 && !path.empty()) fail(HEARTH_ERR_INVALID_ARGUMENT, "the path '" + path + "' is not valid UTF-8");
  std::wstring w((size_t)n, L'\0');
  MultiByteToWideChar(CP_UTF8, 0, path.data(), (int)path.size(), w.data(), n);
  return w;
}

}  // namespace

mapped_file::mapped_file(const std::string &path) {
  // FILE_SHARE_DELETE as POSIX allows: another process may rename the file while it is mapped
  HANDLE f = CreateFileW(widen(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
  if (f == INVALID_HANDLE_VALUE) fail(HEARTH_ERR_IO, "cannot open '" + path + "': " + win32_message(GetLastError()));
  LARGE_INTEGER size;
  if (!GetFileSizeEx(f, &size) || GetFileType(f) != FILE_TYPE_DISK) {
    CloseHandle(f);
    fail(HEARTH_ERR_IO, "'" + path + "' is not a regular file");
  }
  size_ = (size_t)size.QuadPart;
  if (size_ == 0) {
    CloseHandle(f);
    fail(HEARTH_ERR_BAD_FORMAT, "'" + path + "' is empty");
  }
  HANDLE mapping = CreateFileMappingW(f, nullptr, PAGE_READONLY, 0, 0, nullptr);
  const DWORD map_err = GetLastError();
  CloseHandle(f);  // the mapping keeps the file open
  if (!mapping) fail(HEARTH_ERR_IO, "cannot map '" + path + "': " + win32_message(map_err));
  void *p = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  const DWORD view_err = GetLastError();
  CloseHandle(mapping);  // the view keeps the mapping alive
  if (!p) fail(HEARTH_ERR_IO, "cannot map '" + path + "': " + win32_message(view_err));
  data_ = (const uint8_t *)p;
}

mapped_file::~mapped_file() {
  if (data_) UnmapViewOfFile(data_);
}

// VirtualUnlock of pages that are not locked removes them from the working set (documented for this use).
static void release_pages(void *p, size_t bytes) { VirtualUnlock(p, bytes); }
static uintptr_t page_size() { return 4096; }

#else

mapped_file::mapped_file(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(HEARTH_ERR_IO, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(HEARTH_ERR_IO, "'" + path + "' is not a regular file");
  }
  size_ = (size_t)st.st_size;
  if (size_ == 0) {
    ::close(fd);
    fail(HEARTH_ERR_BAD_FORMAT, "'" + path + "' is empty");
  }
  void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) fail(HEARTH_ERR_IO, "cannot map '" + path + "': " + std::strerror(err));
  data_ = (const uint8_t *)p;
}

mapped_file::~mapped_file() {
  if (data_) ::munmap((void *)data_, size_);
}

// A private read-only file map has no changes of ours to lose: its pages come back from the file.
static void release_pages(void *p, size_t bytes) { ::madvise(p, bytes, MADV_DONTNEED); }
static uintptr_t page_size() { return (uintptr_t)::sysconf(_SC_PAGESIZE); }

#endif

void mapped_file::release(const uint8_t *p, size_t bytes) const {
  const uintptr_t page = page_size();
  uintptr_t a = (uintptr_t)p, e = a + bytes;
  if (p < data_ || p + bytes > data_ + size_) return;
  a = (a + page - 1) & ~(page - 1);
  e &= ~(page - 1);
  if (e > a) release_pages((void *)a, e - a);
}

}  // namespace hearth
