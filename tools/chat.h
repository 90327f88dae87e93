// tools/chat.h — what `runlog replay` and `runlog summary` do with a
// conversation folder (tools/cmd_chat.cpp). Each returns the exit status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace runlog::tools {

/// StoredChunk lines (format "jsonl") or ChatMessage lines ("messages") of the
/// chunks after seq `after`, at most `limit` chunks (0: all).
int replay_conversation(const std::string& dir, std::uint64_t after, std::uint64_t limit, const std::string& format);

/// One JSON line: conversationId, totalEntries, lastSeq, counts by role and by
/// chunk type, openToolCalls, live, durableSeq.
int summarize_conversation(const std::string& dir);

/// The conversation folders directly below `path`, sorted (empty when `path`
/// is itself one, or holds none).
std::vector<std::string> conversations_below(const std::string& path);

}  // namespace runlog::tools
