#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.h"

namespace hearth {

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

}  // namespace hearth
