// io/journal.h — the engine's journal: what makes a wave durable with one
// append and one fdatasync, whatever the number of runs it touched
// (docs/design.md, "Group commit: the journal").
//
//   <runsRoot>/.journal/<token>.wal      one per engine, locked while it lives
//
// Each batch's channel writes are also appended here as frames ("these bytes
// belong at this offset of that file"); a wave fdatasyncs the journal instead
// of each channel file. The channel files are written in the same batch, so
// readers and the layout are unchanged; they are synced by a checkpoint (one
// syncfs of the runs root) when a journal file is retired, and when the
// engine closes, after which the journal file is removed.
//
// A journal whose writer is gone (its lock is free) is finished by whoever
// opens a run under that root next (finish_journals): every whole frame is
// written at its offset where the channel file differs or is short, the file
// system is synced, the journal removed. Frames are idempotent, so a crash
// while finishing is finished again.
//
// Frame: [u32 body length][u32 CRC32C of the body], body = [u64 offset]
// [u16 path length][path "<taskId>/<runId>/<file>"][the bytes]; little-endian.
// A journal ends at its first frame that is short, zero or fails its CRC.
//
// Threads: add(), write(), rotate() and close() on the engine's sequencer;
// sync() on one sync thread at a time, concurrently with add() and write();
// checkpoint() on one state thread at a time, concurrently with the rest.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/storage.h"
#include "io/fs.h"
#include "io/run_dir.h"

namespace runlog::io {

/// The folder under the runs root that holds the journals.
inline constexpr std::string_view kJournalDir = ".journal";

class Journal final : public detail::WaveJournal {
 public:
  /// Makes <runs_root>/.journal/ (synced) and a new, locked journal file.
  static Result<std::unique_ptr<Journal>> open(Dir& runs_root, const LayoutOptions& layout);
  ~Journal() override;

  /// Sequencer: one channel write, `path` relative to the runs root.
  void add(const std::string& path, std::uint64_t offset, const struct iovec* iov, int iovcnt) override;
  /// Sequencer: appends what add() gathered to the current file.
  Status write() override;
  /// Sync thread: fdatasync of every journal file written since the last
  /// sync (the current one, and one retired while frames were unsynced).
  Status sync() override;
  /// Sequencer: whether the current file has outgrown its size limit.
  bool full() const override { return end_ >= limit_; }
  /// Sequencer: starts a new journal file; the old one is retired and goes
  /// at the next checkpoint. REQUIRES: what add() gathered is written.
  Status rotate() override;
  /// Whether retired files wait for a checkpoint, or more than the
  /// checkpoint interval's bytes were journaled since the last one: frequent
  /// small checkpoints keep the channel files' dirty pages few, so that no
  /// checkpoint's writeback stalls the journal's fdatasyncs for long.
  bool checkpoint_due() const override;
  /// State thread: one syncfs of the runs root (every channel write made
  /// before it is durable), then the retired files removed and the journal
  /// folder synced. A failed syncfs keeps them (the caller fail-stops).
  Status checkpoint() override;
  /// Sequencer, once nothing is written any more: a checkpoint of everything,
  /// then the current file removed too (a clean close leaves no journal).
  Status close() override;
  /// The size limit of one file (tests make it small). Default 64 MiB.
  void set_limit(std::uint64_t bytes) { limit_ = bytes; }
  /// Journaled bytes between checkpoints. Default 16 MiB.
  void set_checkpoint_interval(std::uint64_t bytes) { interval_ = bytes; }

 private:
  Journal(std::unique_ptr<Dir> dir, LayoutOptions layout)
      : dir_(std::move(dir)), dir_path_(dir_->path()), layout_(layout) {}
  struct Part {
    std::string name;
    std::shared_ptr<File> file;
  };
  Status start_part();

  std::unique_ptr<Dir> dir_;  // <runsRoot>/.journal (sequencer and state thread, under dir_mu_)
  std::mutex dir_mu_;         // a Dir is used by one thread at a time (io/fs.h)
  std::string dir_path_;      // for messages
  LayoutOptions layout_;
  std::vector<char> buf_;     // gathered frames (sequencer)
  std::uint64_t end_ = 0;     // bytes in the current file (sequencer)
  std::uint64_t limit_ = std::uint64_t{64} << 20;
  std::uint64_t interval_ = std::uint64_t{16} << 20;
  std::atomic<std::uint64_t> since_checkpoint_{0};  // bytes journaled since the last checkpoint began
  mutable std::mutex mu_;     // guards the three below and dir_
  Part current_;
  std::vector<Part> unsynced_;                   // retired files with frames not yet synced
  std::vector<Part> retired_;                    // waiting for a checkpoint
};

/// Finishes every journal under `runs_root` whose writer is gone (see the top
/// of this file). *finished (optional) gets one line per journal finished.
/// Any thread; whoever opens a run folder calls it first (the engine at open
/// and at each run it opens, and every reader), so no verdict is given on
/// channel files that lack acknowledged bytes a journal holds.
Status finish_journals(Dir& runs_root, std::vector<std::string>* finished = nullptr);
/// The same for the runs root that holds `path` (a runs root, a task folder,
/// a run folder or a folder beside a file): a .journal folder in it or in one
/// of its two parents (SPEC layout: <runsRoot>/<taskId>/<runId>/). Readers
/// call it before they look at a source. Without a journal folder it costs
/// three opens.
Status finish_journals_above(Fs& fs, const std::string& path);

}  // namespace runlog::io
