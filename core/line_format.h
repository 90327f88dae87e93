// core/line_format.h — the one definition of a local-run-v1 line's framing
// and key orders (docs/format.md, "Line grammar"): what the writers put
// around a record's body, and what io/scanner.h and io/verify_record.cpp
// check. The CRC itself is core/crc32c.h.
//
//   {"seq":<N>,<body>,"crc":"<8 lowercase hex>"}\n
//
// Pure, allocation-free; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace runlog::format {

/// Every line starts with this, then the seq's digits and ','.
inline constexpr std::string_view kSeqPrefix = "{\"seq\":";
/// What precedes the CRC's 8 hex digits; the CRC covers every byte before it.
inline constexpr std::string_view kCrcKey = ",\"crc\":\"";
/// `,"crc":"` + 8 hex + `"}` + `\n`: the fixed end of every line.
inline constexpr std::size_t kCrcSuffixBytes = 19;
/// 18446744073709551615: the most digits a seq has.
inline constexpr std::size_t kMaxSeqDigits = 20;

/// Key orders, `crc` last. A chunk line's "bytes" is present only when the
/// chunk was not valid UTF-8.
inline constexpr std::string_view kChunkLineKeys[] = {"seq", "channel", "createdAt", "text", "bytes", "crc"};
inline constexpr std::string_view kWorkerLineKeys[] = {"seq",       "channel", "eventId", "type",         "level",
                                                       "createdAt", "message", "data",    "renderedLine", "crc"};
/// chunks.jsonl (a conversation's StoredChunk lines).
inline constexpr std::string_view kStoredChunkKeys[] = {"seq", "role", "chunk", "crc"};

/// The most bytes frame_line() adds around a body.
inline constexpr std::size_t kFrameBytes = kSeqPrefix.size() + kMaxSeqDigits + 1 + kCrcSuffixBytes;

/// Writes `{"seq":<seq>,` to out and returns the end. REQUIRES: room for
/// kSeqPrefix.size() + kMaxSeqDigits + 1 bytes.
char* put_seq_head(char* out, std::uint64_t seq) noexcept;

/// Appends `,"crc":"xxxxxxxx"}\n`, the CRC32C of line[0..end), and returns
/// the line's length. REQUIRES: room for kCrcSuffixBytes bytes at end.
std::size_t finish_line(char* line, char* end) noexcept;

/// `{"seq":<seq>,` + body + the crc suffix: one whole line. Returns its
/// length. REQUIRES: out has body.size() + kFrameBytes bytes.
std::size_t frame_line(char* out, std::uint64_t seq, std::string_view body) noexcept;

}  // namespace runlog::format
