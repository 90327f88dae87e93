// io/run_dir.h — the local-run-v1 folder of one run: layout, recovery, metadata.
//
//   <runsRoot>/<taskId>/<runId>/
//     meta.json  state.json  worker.jsonl  stdout.jsonl  stderr.jsonl  durable.seq
//     checkpoints/<n>/  artifacts/
//
// Threads: none of its own. Every function here may be called from any one
// thread at a time per run folder; the engine calls open_run_dir() from the
// thread that opens the run and the rest from its sequencer or sync threads.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "io/recovery.h"
#include "runlog/status.h"
#include "runlog/types.h"

namespace runlog::io {

/// The durable watermark's file in a run or conversation folder (SPEC "Layout").
inline constexpr std::string_view kDurableFile = "durable.seq";
/// RunFiles::durable_written when durable.seq's content is not known.
inline constexpr std::uint64_t kDurableUnknown = UINT64_MAX;

struct LayoutOptions {
  mode_t dir_mode = 0700;   ///< new folders (logs carry secrets)
  mode_t file_mode = 0600;  ///< new files
};

/// The open descriptors of one run folder. Owned by the engine's sequencer.
/// durable.seq carries the writer's lock (File::lock_exclusive) for as long as
/// the run is open, so it stays open when idle files are closed (evict()).
struct RunFiles {
  std::unique_ptr<Dir> dir;                              ///< the run folder
  std::array<std::unique_ptr<File>, kRunChannels> channel;  ///< indexed by Channel
  std::unique_ptr<File> durable_seq;                     ///< durable.seq, locked
  /// What this writer last wrote to durable.seq (kDurableUnknown: read it
  /// first), so that each rewrite need not read the file back.
  std::uint64_t durable_written = kDurableUnknown;
  /// Closes everything (drops the descriptors and the lock).
  void close() { *this = RunFiles{}; }
  /// Closes the folder and the channel files; durable.seq and its lock stay.
  void evict() {
    dir.reset();
    for (auto& c : channel) c.reset();
  }
  bool is_open() const { return dir != nullptr; }
  /// Descriptors that evict() gives back.
  static constexpr int kEvictable = 1 + kRunChannels;
};

/// What open_run_dir() found and did.
struct RecoveredRun {
  bool created = false;             ///< the folder was made by this call
  std::uint64_t last_seq = 0;       ///< N: seqs 1..N are on disk, each once; next append is N+1
  std::array<std::uint64_t, kRunChannels> sizes{};  ///< each channel file's length after recovery
  LocalRunLogSummary summary;       ///< counts of the records 1..N
  RunMetadata meta;                 ///< meta.json as on disk (or as just written)
  RunStateSnapshot state;           ///< state.json, brought up to date with the log
  std::vector<std::string> repairs; ///< one line per cut: "stdout.jsonl: cut 37 bytes at offset 1200 (torn tail)"
};

/// Opens <runs_root>/<meta.taskId>/<meta.runId>, creating the layout when it
/// is missing, or recovering it (SPEC "Recovery") when it exists.
///
/// New run: folders made (dir_mode), channel files and durable.seq created
/// (file_mode), meta.json written atomically, state.json written (status
/// prepared, lastEventSeq 0), and every new folder entry fsync-ed up to
/// runs_root. Existing run: meta.json is read back (and returned; the given
/// meta is ignored except for the ids), channel files are recovered: torn
/// tails cut, every channel cut back to the gap-free prefix 1..N, each cut
/// fdatasync-ed; state.json and durable.seq rewritten when they disagree.
///
/// Before anything is changed, durable.seq is locked (File::lock_exclusive):
/// a run open in another writer is refused, never recovered under it.
/// REQUIRES: meta.taskId and meta.runId are valid ids (core/ids.h).
/// Errors: corruption (file and byte offset named; nothing rewritten),
/// refused (a symlink/FIFO/device/hard link in the layout), io_error.
/// On success *files holds the open descriptors.
Result<RecoveredRun> open_run_dir(Dir& runs_root, const RunMetadata& meta, const LayoutOptions& opts,
                                  RunFiles* files);

/// Reads, without changing or creating anything, how many records the run
/// <runs_root>/<task_id>/<run_id> holds: seqs 1..N by recovery's verdict
/// (io/recovery.h, floor included). 0 when the folder or its files do not
/// exist. Errors: corruption (file and byte offset), refused, io_error.
/// The read-only recovery verdict on the run folder `run` (SPEC
/// "Recovery"): plan_stream_read_only() over its three channels. Any thread.
Result<RecoveryPlan> peek_run(Dir& run);

/// For callers that must not touch a run that already holds records (runlog
/// exec), whoever wrote it.
Result<std::uint64_t> peek_run_records(Dir& runs_root, std::string_view task_id, std::string_view run_id);

/// Reopens the folder and channel files of a run that open_run_dir() recovered
/// earlier in this process and RunFiles::evict() closed (the open-file limit).
/// No recovery, no creation; files->durable_seq is kept as it is.
Status reopen_run_files(Dir& runs_root, std::string_view task_id, std::string_view run_id, RunFiles* files);

/// Takes the writer's lock on durable.seq (File::lock_exclusive). A lock held
/// elsewhere is refused as "lock <path>: the <what> is open in another writer"
/// (`what`: "run" or "conversation"). Thread: the one opening the stream.
Status lock_writer(File& durable_seq, std::string_view what);

/// Replaces state.json atomically (temp, fdatasync, rename, fsync folder).
Status write_state(Dir& run_dir, const RunStateSnapshot& state, const LayoutOptions& opts);

/// Rewrites durable.seq in place: 20 zero-padded decimal digits and '\n'. No sync.
/// `written`, when given, holds what the caller last wrote there (or
/// kDurableUnknown: the file is read first) and is updated: a writer that
/// holds the lock skips reading the file back each time.
Status write_durable_seq(File& durable_seq, std::uint64_t seq, std::uint64_t* written = nullptr);
/// Parses durable.seq content; nullopt when malformed.
std::optional<std::uint64_t> parse_durable_seq(std::string_view content);

/// durable.seq of a stream folder as a reader sees it: the one place that
/// reads it and asks for its writer's lock.
struct DurableMark {
  bool present = false;  ///< the file exists
  bool live = false;     ///< a writer holds its lock (File::locked_by_other)
  std::string text;      ///< its first bytes (at most 64)
  /// Its value when well-formed; an empty file (made, never written) is 0.
  std::optional<std::uint64_t> seq;
};
/// Reads an open durable.seq. Errors: io_error from pread. Any thread.
Result<DurableMark> read_durable_mark(File& durable_seq);
/// Opens durable.seq of `dir` read-only and reads it; present = false when
/// there is none. Errors: the open's (refused for a link, ...), io_error.
/// Any thread.
Result<DurableMark> read_durable_mark(Dir& dir);

/// A run left behind: no writer holds the lock on its durable.seq (`live` is
/// false), yet its state.json still says prepared or running, so no writer
/// will ever finish it (its runner was killed, or stopped before the end).
/// `runlog ls` and `summary` show it as "running (abandoned)"; verify warns.
/// Any thread.
inline bool is_abandoned(bool live, RunStatus status) noexcept {
  return !live && (status == RunStatus::prepared || status == RunStatus::running);
}

/// Makes checkpoints/<n>/ (dir_mode) and fsyncs checkpoints/. Existing is fine.
Status create_checkpoint_dir(Dir& run_dir, std::uint64_t n, const LayoutOptions& opts);

/// meta.json / state.json bodies: compact JSON, keys in the contract's order,
/// optional fields omitted when absent, one trailing '\n'.
std::string meta_to_json(const RunMetadata& meta);
Result<RunMetadata> meta_from_json(std::string_view json);  ///< invalid_argument names the field
std::string state_to_json(const RunStateSnapshot& state);
Result<RunStateSnapshot> state_from_json(std::string_view json);

}  // namespace runlog::io
