// tools/ship/nats_replay.h — `runlog replay nats://HOST:PORT/STREAM/<taskId>/<runId>`
// (and `…/STREAM/conv/<id>`): a shipped run or conversation read back from
// JetStream, printed exactly as the local replay prints it (docs/ship.md).
//
// Threads: the calling thread only.
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace runlog::ship {

/// What a nats:// replay address names.
struct NatsAddress {
  std::string server;  ///< nats://[user:pass@]host:port
  std::string stream;
  bool conv = false;
  std::string a, b;  ///< taskId, runId; or the conversation id in a
};

bool is_nats_url(std::string_view path);
/// nats://HOST:PORT/STREAM/<taskId>/<runId>, …/STREAM/run/<taskId>/<runId>
/// (for a task named "conv") or …/STREAM/conv/<id>; nullopt when malformed.
std::optional<NatsAddress> parse_nats_address(std::string_view url, std::string* error);

/// Prints the records with seq > after as contract JSON lines (a run) or
/// StoredChunk lines (a conversation). follow: keeps printing as records
/// arrive; a run ends at its end marker (the shipper sends it once the run
/// is finished and every record is shipped), a conversation at SIGINT or
/// SIGTERM (exit 0; the handlers are installed here). Returns the exit status
/// (0, 1: an error on stderr, 2: a bad address).
int replay_nats(const std::string& url, std::uint64_t after, bool follow);

}  // namespace runlog::ship
