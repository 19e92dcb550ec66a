#include "utf8.h"

#include <algorithm>

namespace hearth {

size_t utf8_sequence_length(uint8_t lead) {
  static const size_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[lead >> 4];
}

void utf8_append(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xc0 | cp >> 6);
    out += (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += (char)(0xe0 | cp >> 12);
    out += (char)(0x80 | ((cp >> 6) & 0x3f));
    out += (char)(0x80 | (cp & 0x3f));
  } else {
    out += (char)(0xf0 | cp >> 18);
    out += (char)(0x80 | ((cp >> 12) & 0x3f));
    out += (char)(0x80 | ((cp >> 6) & 0x3f));
    out += (char)(0x80 | (cp & 0x3f));
  }
}

uint32_t utf8_next(std::string_view s, size_t &i) {
  const uint8_t c = (uint8_t)s[i];
  const size_t len = std::min(utf8_sequence_length(c), s.size() - i);
  uint32_t cp = len == 1 ? c : c & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | ((uint8_t)s[i + k] & 0x3f);
  i += len;
  return cp;
}

int64_t utf8_invalid_at(std::string_view s) {
  const uint8_t *p = (const uint8_t *)s.data();
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return (int64_t)i;
    if (i + len > n) return (int64_t)i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return (int64_t)i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // overlong forms, surrogates and values past U+10FFFF are not UTF-8
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return (int64_t)i;
    i += len;
  }
  return -1;
}

namespace {

// Bytes of the longest prefix of a well-formed sequence at s (the "maximal subpart" of Unicode's U+FFFD
// substitution practice, as the WHATWG decoder applies it): at least 1.
size_t maximal_subpart(std::string_view s) {
  const uint8_t c = (uint8_t)s[0];
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  else return 1;
  size_t k = 1;
  for (; k < len && k < s.size(); ++k) {
    const uint8_t b = (uint8_t)s[k];
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) break;
  }
  return k;
}

}  // namespace

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const int64_t bad = utf8_invalid_at(s);
    if (bad < 0) {
      out += s;
      break;
    }
    out += s.substr(0, (size_t)bad);
    out += "\xef\xbf\xbd";
    s.remove_prefix((size_t)bad);
    s.remove_prefix(maximal_subpart(s));
  }
  return out;
}

size_t utf8_complete_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte; keep it only if its sequence is complete.
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const uint8_t c = (uint8_t)s[n - back];
    if ((c & 0xc0) == 0x80) continue;  // continuation
    const size_t need = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

std::string utf8_stream::push(std::string_view piece) {
  held_ += piece;
  const size_t n = utf8_complete_prefix(held_);
  std::string out = utf8_sanitize(std::string_view(held_).substr(0, n));
  held_.erase(0, n);
  return out;
}

std::string utf8_stream::finish() {
  std::string out = utf8_sanitize(held_);
  held_.clear();
  return out;
}

std::filesystem::path utf8_path(std::string_view s) {
  return std::filesystem::path(std::u8string((const char8_t *)s.data(), s.size()));
}

}  // namespace hearth
