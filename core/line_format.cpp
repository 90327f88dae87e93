// core/line_format.cpp — a line's framing (see core/line_format.h).
#include "core/line_format.h"

#include <fmt/format.h>

#include <cstring>

#include "core/crc32c.h"

namespace runlog::format {
namespace {
inline char* put(char* out, std::string_view s) noexcept {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}
}  // namespace

char* put_seq_head(char* out, std::uint64_t seq) noexcept {
  out = put(out, kSeqPrefix);
  fmt::format_int digits(seq);
  out = put(out, std::string_view(digits.data(), digits.size()));
  *out++ = ',';
  return out;
}

std::size_t finish_line(char* line, char* end) noexcept {
  const std::uint32_t crc = crc32c(line, static_cast<std::size_t>(end - line));
  end = put(end, kCrcKey);
  crc32c_hex(crc, end);
  end += 8;
  end = put(end, "\"}\n");
  return static_cast<std::size_t>(end - line);
}

std::size_t frame_line(char* out, std::uint64_t seq, std::string_view body) noexcept {
  char* p = put_seq_head(out, seq);
  p = put(p, body);
  return finish_line(out, p);
}

}  // namespace runlog::format
