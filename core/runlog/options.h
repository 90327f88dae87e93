// runlog/options.h — how an Engine is configured.
//
// Every field states its default and unit. Engine::open() refuses nonsense
// (validate_options() says which field and why) before any thread starts or
// any file is touched.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "runlog/status.h"

namespace runlog {

namespace io {
class Fs;
}

/// When a record counts as acknowledged.
enum class Durability : unsigned char {
  none,   ///< written to the OS (page cache); survives a process crash, not a power loss
  batch,  ///< written and fdatasync-ed, once per batch for every file it touched (group commit)
};

/// What a push does when the in-flight budget is full.
enum class OverBudget : unsigned char {
  block,        ///< the producer waits until the sequencer releases enough bytes
  would_block,  ///< the push returns Errc::would_block at once; nothing is accepted
};

struct Options {
  /// Folder holding <taskId>/<runId>/ run folders; created (dirMode) when missing.
  std::string runsRoot = "runs";
  /// Folder holding conversation streams; created on first use.
  std::string conversationsRoot = "conversations";
  /// Default batch: an acknowledgement means fdatasync-ed.
  Durability durability = Durability::batch;
  /// Longest time encoded records wait before their batch is written, while
  /// more keep coming (a batch is written at once when the producers are idle
  /// and no sync is in flight). At least as long as the last batch took to
  /// write, so that writing stays under half the sequencer's time where each
  /// batch touches many files; while a sync wave is in flight, at least half
  /// the time the last wave took (those records wait for it anyway).
  /// Default 1 ms; 0 < delay <= 1 s.
  std::chrono::microseconds maxBatchDelay{1000};
  /// A batch is written once it holds this many encoded bytes; one that
  /// touches many runs, once it holds 48 KiB per run it touches, up to 4 x
  /// this (each file's write costs about the same whatever its size). Memory
  /// for encoded lines is bounded by 4 x this. Default 4 MiB; 64 KiB ..= 256 MiB.
  std::size_t maxBatchBytes = std::size_t{4} << 20;
  /// Bytes accepted from producers and not yet acknowledged, at most. Default
  /// 64 MiB; at least 2 x recordLimit.
  std::size_t inFlightBudget = std::size_t{64} << 20;
  /// Default block.
  OverBudget overBudget = OverBudget::block;
  /// Most text bytes in one record; a larger push becomes several records split
  /// at character boundaries. Default 1 MiB; 1 KiB ..= 64 MiB.
  std::size_t recordLimit = std::size_t{1} << 20;
  /// Mode of new folders (default 0700) and files (default 0600): logs carry secrets.
  mode_t dirMode = 0700;
  mode_t fileMode = 0600;
  /// Most descriptors held open for run folders and channel files; idle runs'
  /// are closed beyond it and reopened on demand. Each open run also keeps
  /// durable.seq open (it carries the writer's lock). Default 1024; at least 16.
  std::size_t openFileLimit = 1024;
  /// Threads that fdatasync the files of one batch concurrently. Default 8; 1 ..= 256.
  unsigned syncThreads = 8;
  /// A group commit that would fdatasync at least this many log files makes
  /// them durable with one syncfs(2) of their file system instead: one device
  /// flush whatever the number of runs (docs/design.md, "Group commit"). A
  /// failed syncfs fail-stops every stream with bytes not yet durable on that
  /// file system. 0: never (always one fdatasync per file). Default 128:
  /// below it, concurrent fdatasyncs were as fast and steadier (syncfs also
  /// waits for other programs' dirty data on that file system).
  std::size_t syncfsFiles = 128;
  /// Group commit through a journal (docs/design.md, "Group commit: the
  /// journal"): each batch's run writes are also appended to
  /// <runsRoot>/.journal/<token>.wal, and a wave is one fdatasync of it,
  /// whatever the number of runs (syncfsFiles then only concerns
  /// conversations). The run files are made durable by a checkpoint (one
  /// syncfs) when a journal file reaches journalFileBytes, and at close. After
  /// a crash, whoever opens a run under that root first finishes the journal.
  bool journal = false;
  /// A journal file is retired, and the runs root checkpointed, past this
  /// size. Default 64 MiB; 4 KiB ..= 4 GiB.
  std::size_t journalFileBytes = std::size_t{64} << 20;
  /// The file system; null = the real one (io::posix_fs()). Tests pass a fault-injecting one.
  std::shared_ptr<io::Fs> fs;
};

/// ok, or invalid_argument naming the field: "maxBatchBytes: 100 is below 65536".
Status validate_options(const Options& options);

}  // namespace runlog
