// tests/support/crash_fs.h — an in-memory io::Fs that can lose power.
//
// CrashFs keeps, for every file, what is on "disk" (the bytes as of its last
// successful datasync) and the writes and truncates made since, in order; and
// for every folder, its entries as of its last sync() beside the current ones.
// Crash(seed) returns the state a power loss at this instant could leave, as a
// fresh CrashFs whose every byte and entry is on disk:
//   - per file, a prefix of the unsynced operations survives, the last one
//     torn at a random byte; the size the lost writes would have given may
//     survive too, filled with zeros or garbage (the metadata reached the disk,
//     the data did not); or all of it is dropped; or all of it survives;
//   - per folder, each entry added, renamed or removed since its last sync()
//     is randomly as it is now or as it was at the sync.
// Everything random is drawn from the seed: the same seed on the same history
// gives the same image.
//
// Dir::sync_filesystem() (syncfs) puts every file's unsynced writes on disk,
// in every root (one CrashFs is one file system); folder entries stay as they
// were (the engine never counts on syncfs for them).
//
// Faults: Inject() arms an error (EIO, ENOSPC, EINTR, or a short write: a
// prefix reaches the file, then ENOSPC) at the Nth counted operation, once or
// from then on. Counted operations are those that change or sync something:
// pwritev, datasync, truncate, Dir::sync, rename, remove, an open that
// creates, and syncfs. A failed datasync behaves as Linux does: the unsynced
// writes are dropped from what can ever reach the disk (the page cache still
// shows them), and the next datasync "succeeds". A failed syncfs drops the
// unsynced writes of every file, and (Linux's per-file error sequence) the
// next datasync of each such file reports the error once more; a later syncfs
// "succeeds". PowerOffAt(N) makes the Nth counted
// operation and every later one fail with EIO, without effect: the power is
// gone; Crash() then gives what was on disk.
//
//   auto fs = std::make_shared<CrashFs>();
//   fs->PowerOffAt(120);
//   options.fs = fs;  ... run a workload ...
//   std::shared_ptr<CrashFs> after = fs->Crash(seed);   // recover from this
//
// Threads: every method may be called from any thread (one mutex guards the
// whole tree); File and Dir objects follow io/fs.h's rules.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/fs.h"

namespace runlog::testing {

class CrashFs final : public io::Fs, public std::enable_shared_from_this<CrashFs> {
 public:
  /// Kinds of counted operations, as a bit mask.
  enum OpKind : unsigned {
    kWrite = 1u << 0,
    kDatasync = 1u << 1,
    kTruncate = 1u << 2,
    kDirSync = 1u << 3,
    kRename = 1u << 4,
    kRemove = 1u << 5,
    kCreate = 1u << 6,
    kSyncfs = 1u << 7,
    kAnyOp = 0xffu,
  };
  enum class FaultKind { eio, enospc, eintr, short_write };

  struct Fault {
    std::uint64_t at = 0;         ///< the counted operation (1-based) where it strikes
    FaultKind kind = FaultKind::eio;
    bool sticky = false;          ///< from `at` on (every later op in `ops` fails too)
    unsigned ops = kAnyOp;        ///< which kinds it strikes; others pass
  };

  CrashFs();

  /// Arms a fault. Thread: any.
  void Inject(const Fault& fault);
  /// The Nth counted operation and all later ones fail (EIO) with no effect.
  void PowerOffAt(std::uint64_t n);
  /// Power off now.
  void PowerOff();
  bool powered_off() const;
  /// Counted operations so far.
  std::uint64_t ops() const;
  /// Operations that failed by Inject() or power loss.
  std::uint64_t failures() const;
  /// Datasyncs and syncfs calls that failed by an injected fault.
  std::uint64_t failed_syncs() const;

  /// The post-power-loss image described above, as a new CrashFs.
  std::shared_ptr<CrashFs> Crash(std::uint64_t seed) const;
  /// The worst image: every unsynced write and folder entry lost, nothing torn.
  std::shared_ptr<CrashFs> CrashLosingAllUnsynced() const;
  /// An exact copy of the current state with everything on disk (a clean
  /// shutdown, or a process kill: the page cache survives).
  std::shared_ptr<CrashFs> Copy() const;

  /// The current content of the file at root/relative path ("t/r/stdout.jsonl"),
  /// as a reader would see it now; false when there is no such file.
  bool ReadNow(const std::string& root, const std::string& rel, std::string* out) const;
  /// Every file path below root ("t/r/stdout.jsonl"), sorted.
  std::vector<std::string> ListFiles(const std::string& root) const;

  /// A root is any path string; "<root>/a/b" also opens folder a/b below an
  /// existing root (as verify and the readers do), never creating it.
  Result<std::unique_ptr<io::Dir>> open_root(const std::string& path, bool create, mode_t mode) override;

  // The tree; public for the implementation file only.
  struct Node;
  struct State;

 private:
  std::shared_ptr<State> st_;
};

/// "RUNLOG_CRASH_SEED" when set (a case to replay), else `fallback`.
std::uint64_t SeedFromEnv(std::uint64_t fallback);
/// An integer size from the environment variable `name`, else `fallback`
/// (`long_value` when RUNLOG_LONG=1).
std::uint64_t SizeFromEnv(const char* name, std::uint64_t fallback, std::uint64_t long_value);
/// Whether this build runs under ASan or TSan (from the compiler's own macros).
bool UnderSanitizer();

}  // namespace runlog::testing
