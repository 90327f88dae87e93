// core/line_encoder.h — one record to one line of local-run-v1 (docs/format.md).
//
//   {"seq":4,"channel":"stdout","createdAt":"…","text":"…"[,"bytes":"<b64>"],"crc":"xxxxxxxx"}\n
//   {"seq":3,"channel":"worker",<event fragment>,"crc":"xxxxxxxx"}\n
//
// Pure functions, allocation-free (except the cold event-fragment builder).
// Called by the sequencer thread per record, and by tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runlog/types.h"
#include "timefmt.h"

namespace runlog::detail {

/// The most bytes encode_chunk_line() writes for n text bytes.
std::size_t chunk_line_bound(std::size_t n) noexcept;

/// Writes the line of a stdout/stderr chunk (with '\n') to out and returns its
/// length. text[0..n) are the chunk's exact bytes: invalid UTF-8 becomes U+FFFD
/// in "text" and the bytes are kept in "bytes" (base64).
/// createdAt is written through `iso` when given (the caller's cache of the
/// last second), else by format_iso_ms.
/// REQUIRES: out has chunk_line_bound(n) bytes; channel is stdout_ or stderr_.
std::size_t encode_chunk_line(char* out, std::uint64_t seq, Channel channel, std::int64_t created_ms,
                              const char* text, std::size_t n, IsoMsCache* iso = nullptr) noexcept;

/// The most bytes encode_event_line() writes for a fragment of n bytes.
constexpr std::size_t event_line_bound(std::size_t n) noexcept { return n + 80; }
/// Writes `{"seq":N,"channel":"worker",` + fragment + crc + '\n'.
std::size_t encode_event_line(char* out, std::uint64_t seq, std::string_view fragment) noexcept;

/// The event fields after "channel" (built by the producer, off the sequencer):
///   "eventId":"…","type":"…","level":"…","createdAt":"…","message":"…","data":{…},"renderedLine":"…"
/// REQUIRES: data_json is a minified JSON object.
std::string encode_event_fragment(std::string_view event_id, EventType type, LogLevel level,
                                  std::int64_t created_ms, std::string_view message, std::string_view data_json);

/// The renderedLine of an event: "[<createdAt>] <level> <type>: <message>".
std::string render_event_line(EventType type, LogLevel level, std::int64_t created_ms, std::string_view message);

}  // namespace runlog::detail
