// io/conversation_dir.h — the folder of one conversation: layout and recovery.
//
//   <conversationsRoot>/<conversationId>/
//     chunks.jsonl  StoredChunk lines (docs/format.md)
//     durable.seq   the durable watermark, under the writer's lock (as for runs)
//
// Threads: none of its own; one thread at a time per folder (the engine opens
// from the calling thread, then its sequencer and sync threads drive the files).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/fs.h"
#include "io/run_dir.h"
#include "runlog/status.h"

namespace runlog::io {

inline constexpr std::string_view kChunksFileName = "chunks.jsonl";

/// What open_conversation_dir() found and did.
struct RecoveredConversation {
  bool created = false;
  std::uint64_t last_seq = 0;   ///< seqs 1..N in chunks.jsonl, each once
  std::uint64_t size = 0;       ///< chunks.jsonl's length after recovery
  std::vector<std::string> repairs;
  /// tool-calls with no tool-result, in seq order: toolCallId, toolName.
  std::vector<std::pair<std::string, std::string>> open_tool_calls;
};

/// Opens <root>/<id>, creating chunks.jsonl and durable.seq when missing, or
/// recovering chunks.jsonl (SPEC "Recovery", one file): the torn tail cut and
/// fdatasync-ed; damage with valid lines after it is corruption (file and
/// offset named, nothing rewritten). durable.seq is locked first (a
/// conversation open in another writer is refused) and rewritten to N when it
/// disagrees; the folder and the root are fsync-ed. Every line 1..N is parsed
/// to find the open tool-calls (a line that is not a StoredChunk: corruption).
/// files->channel[0] is chunks.jsonl. REQUIRES: id is a valid id.
Result<RecoveredConversation> open_conversation_dir(Dir& root, std::string_view id, const LayoutOptions& opts,
                                                    RunFiles* files);

/// Reopens the folder and chunks.jsonl after RunFiles::evict(); durable.seq kept.
Status reopen_conversation_files(Dir& root, std::string_view id, RunFiles* files);

}  // namespace runlog::io
