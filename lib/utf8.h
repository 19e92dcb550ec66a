// UTF-8 checks for text crossing the C ABI and for streamed output.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace hearth {

// Index of the first byte that is not part of well-formed UTF-8, or -1 if it is all valid.
int64_t utf8_invalid_at(std::string_view s);
// s with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string utf8_sanitize(std::string_view s);
// Length of the longest prefix of s that ends on a character boundary (for streaming).
size_t utf8_complete_prefix(std::string_view s);
// Bytes of the UTF-8 sequence a lead byte starts (1 for a stray continuation byte).
size_t utf8_sequence_length(uint8_t lead);
// Appends the UTF-8 encoding of a code point (at most U+10FFFF, not a surrogate).
void utf8_append(std::string &out, uint32_t cp);
// Decodes the character of valid UTF-8 text at s[i] and advances i past it.
uint32_t utf8_next(std::string_view s, size_t &i);
// A UTF-8 path (as the C API takes them) for std::filesystem and the wide-character file calls: on Windows a narrow
// path would be read in the ANSI code page.
std::filesystem::path utf8_path(std::string_view s);

// Streams token pieces as text that is always valid UTF-8: bytes of a character split over several pieces are
// held until it is complete, bytes that can never form a character become U+FFFD, and finish() flushes what is
// still held (an incomplete character at the end) as U+FFFD.
class utf8_stream {
 public:
  std::string push(std::string_view piece);
  std::string finish();
  bool holding() const { return !held_.empty(); }

 private:
  std::string held_;
};

}  // namespace hearth
