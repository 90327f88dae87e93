// core/lifecycle.h — the event -> state rules of SPEC "Run state", in one
// place: the sequencer applies them as events are sequenced, recovery
// (io/recovery.h, LifecycleReplay) as it replays worker.jsonl.
//
// Threads: a pure function; the caller guards the snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "runlog/types.h"

namespace runlog {

/// What one lifecycle event does to a run's state: worker_started -> running;
/// step_completed / step_failed / step_blocked -> completed / failed / blocked
/// with finishedAt = created_at; worker_exited -> exitCode (when given);
/// checkpoint_slot_reserved -> checkpointSeq + 1; every event -> updatedAt =
/// created_at. lastEventSeq is the caller's (the durable seq, or the replayed
/// event's seq). Strings are assigned into their existing capacity, so a
/// steady stream of events allocates nothing. Returns whether status,
/// exitCode or checkpointSeq changed (state.json must then be rewritten).
bool apply_lifecycle_event(RunStateSnapshot* state, EventType type, std::optional<std::int64_t> exit_code,
                           std::string_view created_at);

}  // namespace runlog
