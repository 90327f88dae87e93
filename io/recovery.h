// io/recovery.h — recovery at open (SPEC "Recovery"): the k-way merge of a
// stream's files through the one scanner (io/scanner.h), whose end N of the
// gap-free prefix 1..N and per-file scans go to the one decision (decide()),
// the stream's floor W, the read-only verdict every entry point gives, and
// carrying out a plan.
//
// Across files (a stream's channels), the merge takes seq 1, 2, ... from
// whichever file holds it next, and stops at the first seq that no file
// holds: N. Each file is then cut at its first record past N, or at its torn
// tail (decide()).
//
// Threads: none; the functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "io/scanner.h"
#include "runlog/status.h"
#include "runlog/types.h"

namespace runlog::io {

/// Called for every record 1..N in seq order, with the index of its file.
using RecordVisitor = std::function<Status(std::size_t file_index, const ScannedRecord& rec)>;

/// Scans the files of one stream (a run's three channels in Channel order, or
/// a conversation's one file) and plans the recovery (SPEC "Recovery"), given
/// the stream's floor W = max(durable.seq, state.json's lastEventSeq): the
/// highest seq something durable vouches for (see read_floor()). Reads every
/// byte once; writes nothing. The verdict:
///   - clean: nothing to cut;
///   - torn tail / past a hole: cuts, all of them above W (seqs 1..N, N >= W,
///     are kept);
///   - corruption (the error): damage with valid records after it, a seq that
///     repeats or goes backwards, or a record at or below W that is damaged or
///     missing (N < W). The message names the file and byte offset; nothing
///     must then be rewritten.
/// Other errors: io_error, or what `visit` returned.
Result<RecoveryPlan> plan_recovery(std::span<File* const> files, std::uint64_t floor,
                                   const RecordVisitor& visit = {}, std::size_t chunk_bytes = kScanChunkBytes);

/// plan_recovery() over byte strings (file i is named "file<i>" in messages):
/// for tests and fuzzers.
Result<RecoveryPlan> plan_recovery_bytes(std::span<const std::string_view> contents,
                                         std::size_t chunk_bytes = kScanChunkBytes, std::uint64_t floor = 0);

/// The floor W of a stream folder: max(durable.seq, state.json's
/// lastEventSeq), each counted only when present and well-formed (a torn
/// durable.seq vouches for nothing). `durable_seq` may be null (no file).
/// Errors: io_error reading them.
Result<std::uint64_t> read_floor(Dir& dir, File* durable_seq);

/// The read-only verdict on the stream in `dir` (its channel files named by
/// `channel_names`, in stream order; a missing one counts as empty): opens
/// what exists read-only, reads the floor, and plans. Creates, locks and
/// writes nothing, so a refusal changes nothing. The verdict of every entry
/// point that must not (or must not yet) change a byte: ls, exec's check,
/// the open of an existing stream before it creates anything.
/// Errors: as plan_recovery() (corruption names file and offset), io_error.
/// Any thread.
Result<RecoveryPlan> plan_stream_read_only(Dir& dir, std::span<const std::string_view> channel_names);

/// Carries out a plan made over the same files: truncates each file that
/// needs it, then fdatasyncs every file (the cut, and the records kept, are
/// durable before the next append: after a process kill they may still have
/// been only in the page cache). Appends one line per cut to *repairs (when
/// given), e.g. "stdout.jsonl: cut 37 bytes at offset 1200 (torn tail)".
Status apply_recovery_plan(std::span<File* const> files, const RecoveryPlan& plan,
                           std::vector<std::string>* repairs);

/// "stdout.jsonl: cut 37 bytes at offset 1200 (torn tail)" /
/// "... (past a hole at seq 17)". file_name is shown as given.
std::string describe_cut(std::string_view file_name, const ChannelCut& cut, std::uint64_t last_seq);

/// Replays worker.jsonl lines onto a RunStateSnapshot (SPEC "Run state"):
/// worker_started -> running; step_completed / step_failed / step_blocked ->
/// completed / failed / blocked with finishedAt = the event's createdAt;
/// worker_exited -> exitCode = data.exitCode when it is an integer;
/// checkpoint_slot_reserved -> checkpointSeq + 1; every event -> updatedAt =
/// its createdAt, lastEventSeq = its seq. Unknown event types change only
/// updatedAt and lastEventSeq. Keeps one simdjson parser between calls.
class LifecycleReplay {
 public:
  LifecycleReplay();
  ~LifecycleReplay();
  LifecycleReplay(const LifecycleReplay&) = delete;
  LifecycleReplay& operator=(const LifecycleReplay&) = delete;

  /// Applies one line (with or without its '\n'; any key order; crc ignored).
  /// Errors: invalid_argument when it is not JSON or lacks a string "type" or
  /// "createdAt" or an integer "seq"; *state is then unchanged.
  Status apply(std::string_view line, RunStateSnapshot* state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runlog::io
