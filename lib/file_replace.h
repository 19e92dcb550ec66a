// Writing a file so that it appears whole or not at all: the bytes go to PATH.partial beside it, which is renamed
// over PATH at the end. A failed or cancelled write removes the partial file and leaves PATH as it was, and a
// process that maps the old file keeps reading it (truncating a mapped file in place faults its readers on Linux
// and is refused on Windows). Used for model files (gguf_writer) and session states.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace hearth {

// write(p, n) appends n bytes; it throws HEARTH_ERR_IO naming PATH when the disk refuses them.
using append_fn = std::function<void(const void *p, size_t n)>;

// Calls body with the appender, then replaces path (UTF-8) with what it wrote. Throws hearth::error
// (HEARTH_ERR_IO), or whatever body throws, after removing the partial file.
void write_file_replacing(const std::string &path, const std::function<void(const append_fn &write)> &body);

}  // namespace hearth
