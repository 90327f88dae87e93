// io/reader_after.h — inside the reader: where a file's lines with seq > N
// begin, found by bisection over byte offsets (ReadFilter::after), and the seq
// digit parser the reader's decoders share. Not installed.
//
// Threads: none of its own; a call uses only what it is given.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/fs.h"
#include "runlog/status.h"

namespace runlog::io::reader_detail {

// Parses 1..20 decimal digits at p[0..] (no leading zero, value >= 1); *digits
// is their count. false when there are none or the value overflows. (Inline:
// it is on the reader's per-line path.)
inline bool parse_seq_digits(const char* p, std::size_t avail, std::uint64_t* seq, int* digits) {
  const std::size_t most = avail < 21 ? avail : 21;
  std::size_t d = 0;
  while (d < most && static_cast<unsigned>(p[d] - '0') < 10u) ++d;
  if (d == 0 || d > 20 || p[0] == '0') return false;
  std::uint64_t v = 0;
  const std::size_t safe = d < 19 ? d : 19;  // 19 digits never overflow
  for (std::size_t i = 0; i < safe; ++i) v = v * 10 + static_cast<unsigned>(p[i] - '0');
  for (std::size_t i = safe; i < d; ++i) {
    const unsigned dig = static_cast<unsigned>(p[i] - '0');
    if (v > (UINT64_MAX - dig) / 10) return false;
    v = v * 10 + dig;
  }
  *seq = v;
  *digits = static_cast<int>(d);
  return true;
}

/// The offset of the first line of `file` whose seq is > n (the file's size
/// when none), by bisection over byte offsets: seqs increase within a file.
/// Ends with one read of at most 64 KiB; never scans the file. When a probed
/// line cannot be read, answers the last offset known to be safe (the reader
/// then skips seqs <= n as it goes). `parser` reads a foreign line whose seq is
/// not its first key; `probe` is scratch. Errors: io_error.
Status seek_after(File& file, std::uint64_t n, simdjson::dom::parser& parser, std::string& probe, std::uint64_t* out);

}  // namespace runlog::io::reader_detail
