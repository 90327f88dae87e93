// tools/ship/shipper.h — `runlog ship`: every durable record of every run and
// conversation under the roots into one JetStream stream, exactly once across
// crashes of either side (docs/ship.md).
//
// How: for each run, the last Runlog-Seq of each of its subjects is asked of
// the stream (js_GetLastMsg) at start and after every failure or reconnect;
// records past it are read with io::LogReader (never past durable) and
// published in seq order through NatsLink's window. A failure stops the line:
// every outstanding ack is settled, then the positions are asked again. The
// Nats-Msg-Id dedup window catches what was stored but not acknowledged.
//
// Threads: one thread runs a Shipper (NatsLink's callbacks run on the client
// library's threads). `stop` may be set from a signal handler.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include "runlog/status.h"
#include "tools/ship/nats_link.h"

namespace runlog::ship {

struct ShipOptions {
  std::string runs_root;           ///< <runsRoot>/<taskId>/<runId>; may be empty when conversations_root is set
  std::string conversations_root;  ///< <conversationsRoot>/<id>/chunks.jsonl; empty: none
  LinkOptions link;
  bool follow = false;  ///< keep shipping live runs and new ones until stopped
  int poll_ms = 50;     ///< --follow: how often live runs are looked at
  int scan_ms = 250;    ///< --follow: how often the roots are listed for new runs
};

struct ShipStats {
  std::uint64_t published = 0;   ///< messages handed to the stream (retries included)
  std::uint64_t acked = 0;       ///< acknowledged, new or duplicate
  std::uint64_t duplicates = 0;  ///< acknowledged as duplicates (stored before, not again)
  std::uint64_t runs = 0, conversations = 0;
  std::uint64_t resyncs = 0;     ///< times the positions were asked again after a failure
};

/// Ships until done (without follow: everything durable now) or until *stop.
/// Errors (exit 1): server down, bad credentials, a stream with other
/// subjects, a stream that stays full (without follow), a run that cannot be
/// read (the others are still shipped; the first such error is returned),
/// a hole found in the stream. Progress and notes go to stderr.
Status ship(const ShipOptions& options, volatile std::sig_atomic_t* stop, ShipStats* stats);

}  // namespace runlog::ship
