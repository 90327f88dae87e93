// tools/views.h — the bytes that `runlog ls --json`, `runlog summary` and
// `runlog replay` print for one run or conversation, as functions, so that the
// CLI and `runlog serve` answer with the very same bytes.
//
// Threads: none of their own; every function is reentrant (a LogReader passed
// in is used by the calling thread only).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/reader.h"
#include "runlog/status.h"

namespace runlog::tools {

// ---------------------------------------------------------------------------
// runlog ls

/// One run as `runlog ls` shows it.
struct RunRow {
  std::string task, run;
  std::optional<std::string> status;
  bool live = false;
  bool abandoned = false;  ///< io::is_abandoned()
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::optional<std::string> started;
  std::optional<double> duration;
};

/// One conversation as `runlog ls` shows it.
struct ConversationRow {
  std::string id;
  bool live = false;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

/// What lies below a root: <task>/<run> run folders and <id> conversation
/// folders, each sorted by name (byte order). Symbolic links are skipped.
struct Listing {
  std::vector<RunRow> runs;
  std::vector<ConversationRow> conversations;
  /// Streams no writer holds whose recovery verdict is corruption, each
  /// "<task>/<run>: <file>:<offset>: what" (they are listed with 0 entries).
  std::vector<std::string> problems;
};

/// Lists `root_path`: a live run from its small files (meta/state/durable.seq,
/// sizes); any other run or conversation is scanned once, read-only, for
/// recovery's last good seq. Errors: not_found, io_error.
Result<Listing> list_root(const std::string& root_path);

/// `{"taskId","runId","status","entries","bytes","startedAt","durationSeconds","live","abandoned"}` (no '\n').
std::string run_row_json(const RunRow& row);
/// `{"conversationId","entries","bytes","live"}` (no '\n').
std::string conversation_row_json(const ConversationRow& row);

// ---------------------------------------------------------------------------
// runlog replay / runlog summary of one run

enum class EntryFormat { jsonl, text, raw };

/// Appends one entry in `format` (text: control characters made visible when
/// `visible`). Errors: corruption (bad escapes or base64 in a foreign line).
Status append_entry(EntryFormat format, bool visible, const io::Entry& e, const io::RunContext& ctx, std::string* out);

/// Opens `src` with `filter` on `reader` and appends its entries in `format`
/// to *buf, calling flush() whenever *buf holds 1 MiB or more (flush empties
/// it). Counts the entries in *emitted when not null. The reader's notes stay
/// on the reader.
Status replay_run(io::LogReader& reader, const io::Source& src, const io::ReadFilter& filter, EntryFormat format,
                  bool visible, std::string* buf, const std::function<Status()>& flush, std::uint64_t* emitted);

/// Appends the line `runlog summary` prints for `src` ('\n' included).
Status append_summary_line(io::LogReader& reader, const io::Source& src, std::string* out);

// ---------------------------------------------------------------------------
// Conversations

/// Appends the StoredChunk lines (or, `messages`, the ChatMessage lines) of
/// the conversation folder `dir` after seq `after`, at most `limit` chunks (0:
/// all). The reader's notes go to *notes. Errors: as io::LogReader.
Status append_conversation(const std::string& dir, std::uint64_t after, std::uint64_t limit, bool messages,
                           std::string* out, std::vector<std::string>* notes);

/// Appends the line `runlog summary` prints for a conversation ('\n' included).
Status append_conversation_summary(const std::string& dir, std::string* out, std::vector<std::string>* notes);

}  // namespace runlog::tools
