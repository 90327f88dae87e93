// core/chunk_codec.h — a conversation chunk (contracts/wire.ts `Chunk`)
// checked against the contract and written in its canonical form.
//
//   "role":"assistant","chunk":{"type":"text","text":"…"}
//
// is the fragment the producer builds (off the sequencer); the sequencer adds
// `{"seq":N,` before it and `,"crc":"…"}\n` after (docs/format.md). Canonical:
// compact, the chunk's keys in the contract's order, strings escaped as
// JSON.stringify escapes them, `input` as simdjson minifies it.
//
// Threads: every function is thread-safe; the encoder keeps one parser and
// one buffer per thread, so a thread that encodes chunks allocates nothing
// per chunk once its buffers have grown (tool-calls excepted: their input is
// minified into a fresh string).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runlog/conversation.h"
#include "runlog/status.h"

namespace runlog::detail {

/// The six Chunk variants.
enum class ChunkType : std::uint8_t { text, thinking, tool_call, tool_result, error, system };
/// "text", "thinking", "tool-call", "tool-result", "error", "system".
std::string_view chunk_type_name(ChunkType t) noexcept;

/// What the encoder learned of a chunk (views into the encoder's thread-local
/// output: valid until the thread's next encode).
struct ChunkInfo {
  ChunkType type = ChunkType::text;
  std::string_view tool_call_id;  ///< tool-call / tool-result: unescaped
  std::string_view tool_name;     ///< tool-call / tool-result: unescaped
  /// The chunk object alone, canonical: `{"type":…,…}`.
  std::string_view chunk;
};

/// Checks `chunk_json` against the contract and writes the fragment
/// `"role":"<role>","chunk":{…}` into *out (replacing its content).
/// invalid_argument, naming the field, for: not JSON / not an object / not
/// UTF-8, an unknown or missing "type", a required field missing or of the
/// wrong type (isError must be a boolean, code a string when present), or a
/// key the variant does not have.
Status encode_chunk_fragment(Role role, std::string_view chunk_json, std::string* out, ChunkInfo* info);

/// The synthesized answer to an interrupted tool-call, as a chunk object:
/// {"type":"tool-result","toolCallId":…,"toolName":…,"content":"…","isError":true}
std::string interrupted_tool_result(std::string_view tool_call_id, std::string_view tool_name);

/// What a tool-result synthesized by reconcile says.
inline constexpr std::string_view kInterruptedContent =
    "interrupted: the tool-call got no result before the conversation was reopened or reconciled";

/// `{"seq":N,` + fragment + `,"crc":"xxxxxxxx"}\n` into out; returns its length.
/// REQUIRES: out has stored_line_bound(fragment.size()) bytes.
constexpr std::size_t stored_line_bound(std::size_t n) noexcept { return n + 64; }
std::size_t encode_stored_line(char* out, std::uint64_t seq, std::string_view fragment) noexcept;

}  // namespace runlog::detail
