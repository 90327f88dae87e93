// core/storage.h — what the engine needs from durable storage, and nothing more.
//
// core/ knows nothing of files: the engine talks to these two interfaces, and
// io/ implements them over its file-system seam (io/file_storage.cpp). That
// keeps the sequencer testable and the file layout in one place.
//
// Threads (REQUIRES for implementations and callers alike):
// - Storage::open_run may be called from any thread; calls for different runs
//   may run concurrently.
// - A RunStorage is driven by the sequencer thread, except sync() and
//   write_state(), which a sync-pool thread runs while the sequencer keeps
//   appending to the same run. The sequencer never calls close_files() or
//   reopen_files() on a run with a sync or state write in flight.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runlog/status.h"
#include "runlog/types.h"

namespace runlog::detail {

/// What an opened (created or recovered) run looks like on disk.
struct RecoveredStream {
  bool created = false;
  std::uint64_t last_seq = 0;                          ///< seqs 1..N on disk
  std::array<std::uint64_t, kRunChannels> sizes{};     ///< channel file lengths
  LocalRunLogSummary summary;
  RunMetadata meta;
  RunStateSnapshot state;
  std::vector<std::string> repairs;
  /// A conversation: its tool-calls with no tool-result, in seq order (toolCallId, toolName).
  std::vector<std::pair<std::string, std::string>> open_tool_calls;
  /// A conversation: its folder, for messages.
  std::string dir;
};

class RunStorage {
 public:
  virtual ~RunStorage() = default;
  /// Sequencer: writes iov at `offset` of the channel's file (all or error).
  virtual Status append(Channel channel, const struct iovec* iov, int iovcnt, std::uint64_t offset) = 0;
  /// Sync thread: fdatasync of the channel's file.
  virtual Status sync(Channel channel) = 0;
  /// Sequencer: start writing a range of the channel's file back, no wait, no
  /// flush (journal mode keeps the run files' dirty pages few, so that a
  /// checkpoint's syncfs has little left to write). A hint.
  virtual void start_writeback(Channel, std::uint64_t /*offset*/, std::uint64_t /*n*/) {}
  /// Sync thread: atomic replace of state.json (temp, sync, rename, sync folder).
  virtual Status write_state(const RunStateSnapshot& state) = 0;
  /// Sequencer: durable.seq rewritten in place (no sync).
  virtual Status write_durable(std::uint64_t seq) = 0;
  /// Sequencer: checkpoints/<n>/ created and its entry synced.
  virtual Status make_checkpoint(std::uint64_t n) = 0;
  /// Sequencer: drop / regain the descriptors (open-file limit). files_open()
  /// tells which. descriptor_count() is what close_files() gives back; the run
  /// keeps one more descriptor, the writer's lock, until release().
  virtual void close_files() = 0;
  /// Sequencer: closes everything and drops the writer's lock (the run is closed).
  virtual void release() = 0;
  virtual Status reopen_files() = 0;
  virtual bool files_open() const = 0;
  virtual int descriptor_count() const = 0;
  /// "runs/t1/r1/stdout.jsonl" style names for messages.
  virtual std::string describe(Channel channel) const = 0;
  /// The channel file's path below the runs root ("<taskId>/<runId>/<file>"),
  /// which names it in the journal. Any thread; fixed for the run's life.
  virtual const std::string& journal_path(Channel channel) const = 0;
};

/// The engine's journal (io/journal.h, docs/design.md "Group commit: the
/// journal"): the run files' writes of a wave made durable by one append and
/// one fdatasync. Threads: add/write/full/rotate/checkpoint_due/close on the
/// sequencer; sync on one sync thread at a time; checkpoint on one state
/// thread at a time; sync and checkpoint run concurrently with the rest.
class WaveJournal {
 public:
  virtual ~WaveJournal() = default;
  /// A channel write that just succeeded (bytes at `offset` of the file named
  /// by RunStorage::journal_path): gathered for write().
  virtual void add(const std::string& path, std::uint64_t offset, const struct iovec* iov, int iovcnt) = 0;
  /// Appends what add() gathered (at the end of each batch).
  virtual Status write() = 0;
  /// fdatasync: every frame written before the call is durable.
  virtual Status sync() = 0;
  /// The current file outgrew its limit: rotate() retires it.
  virtual bool full() const = 0;
  virtual Status rotate() = 0;
  /// Retired files wait for checkpoint(): one syncfs of the runs root (the
  /// channel writes they hold become durable in the files), then removal.
  virtual bool checkpoint_due() const = 0;
  virtual Status checkpoint() = 0;
  /// At shutdown: a checkpoint of everything, the journal removed.
  virtual Status close() = 0;
};

/// The file systems the engine writes to: the runs root's and the
/// conversations root's (they may be one).
enum class Volume : std::uint8_t { runs, conversations };

class Storage {
 public:
  virtual ~Storage() = default;
  /// Sync thread: one syncfs of the volume's file system, which makes every
  /// channel file written on it before the call durable, as RunStorage::sync
  /// of each would. A failure cannot be pinned on one file: the caller
  /// fail-stops every stream with bytes written there and not yet durable.
  /// REQUIRES: conversations only once a conversation was opened.
  virtual Status sync_volume(Volume volume) = 0;
  /// Any thread: creates or recovers the run folder of meta.taskId/meta.runId.
  /// REQUIRES: ids validated.
  virtual Result<std::unique_ptr<RunStorage>> open_run(const RunMetadata& meta, RecoveredStream* out) = 0;
  /// Any thread: creates or recovers <conversationsRoot>/<id>/ (chunks.jsonl
  /// is channel 0 of the RunStorage; write_state and make_checkpoint are
  /// not used). REQUIRES: id validated.
  virtual Result<std::unique_ptr<RunStorage>> open_conversation(const std::string& id, RecoveredStream* out) = 0;
  /// The journal run files are committed through; null: each wave syncs the
  /// files it wrote (Options::journal off). Conversations never use it.
  virtual WaveJournal* journal() { return nullptr; }
};

}  // namespace runlog::detail
