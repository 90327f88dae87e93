// io/conversation_reader.h — reading a conversation folder back: the
// StoredChunks after seq N, up to the durable watermark, and the messages view.
//
//   auto read = runlog::io::read_conversation("conversations/c1", /*after=*/17);
//   std::string out;
//   for (const auto& e : read->entries) runlog::io::append_stored(e, &out);  // StoredChunk JSON lines
//
// Rules (as for runs, docs/reading.md): every line's crc is checked; seqs must
// be 1..N in order (a hole ends the stream: what lies past it was never
// acknowledged); while a writer holds the lock on durable.seq (in this process
// or another) nothing past durable.seq is served; a torn tail (damage with
// nothing valid after it) is skipped with a note; damage with valid lines
// after it, or a seq that repeats or goes back, is corruption.
//
// Threads: none; the functions are reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fs.h"  // installed beside it, as <runlog/io/fs.h>
#include "runlog/status.h"

namespace runlog::io {

/// One StoredChunk: views into ConversationRead::data.
struct StoredEntry {
  std::uint64_t seq = 0;
  std::string_view role;    ///< the role, without quotes
  std::string_view chunk;   ///< the chunk object, as written
};

/// Appends the StoredChunk `{"seq":N,"role":"…","chunk":{…}}` and '\n' (the
/// line without its crc: the contract's shape).
void append_stored(const StoredEntry& e, std::string* out);

struct ConversationRead {
  std::string data;  ///< the bytes the entries point into (do not modify)
  std::vector<StoredEntry> entries;  ///< seq > after, in seq order
  std::uint64_t last_seq = 0;        ///< the highest seq served (or skipped by `after`)
  bool live = false;                 ///< a writer holds the lock on durable.seq
  bool has_durable_file = false;
  std::uint64_t durable_seq = 0;     ///< durable.seq's value (when present and readable)
  std::vector<std::string> notes;    ///< torn tail ignored, hole, durable cap
};

/// Whether `path` is a conversation folder (it holds chunks.jsonl and none of a
/// run's files: a folder with both is an error that find_sources() names).
bool is_conversation_dir(const std::string& path, Fs* fs = nullptr);

/// Reads <dir>/chunks.jsonl: the entries with seq > after, as above. `fs`
/// null: the real file system. Errors: not_found, corruption
/// ("<path>:<offset>: <what>"), io_error, refused.
Result<ConversationRead> read_conversation(const std::string& dir, std::uint64_t after = 0, Fs* fs = nullptr);

/// Appends the messages view of `entries`: consecutive chunks of one role
/// form one ChatMessage, one JSON line each: {"role":"…","chunks":[…]}.
void append_messages(const std::vector<StoredEntry>& entries, std::string* out);

}  // namespace runlog::io
