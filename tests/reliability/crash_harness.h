// tests/reliability/crash_harness.h — workloads that run a real Engine on a
// CrashFs, and the check every crash is followed by: recovery runs and every
// SPEC invariant holds (nothing acknowledged lost, seqs 1..N each once, every
// line valid, no record carries content pushed under another seq, the next
// append gets N+1, recovery twice = once).
//
// Threads: Workload runs its producers on threads of its own and joins them;
// everything else runs on the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runlog/engine.h"
#include "support/crash_fs.h"

namespace runlog::testing {

/// The runs root every workload writes under (a CrashFs root name).
inline constexpr const char* kCrashRoot = "runs";

/// What a workload pushed to one run and what it saw acknowledged.
struct RunHistory {
  std::string task, run;
  bool opened = false;                             ///< open_run succeeded
  std::map<std::uint64_t, std::string> pushed;     ///< seq -> the line's distinctive fragment
  std::map<std::uint64_t, std::string> channel;    ///< seq -> "worker" / "stdout" / "stderr"
  std::set<std::uint64_t> acked;                   ///< seqs whose Ticket::wait() returned ok
  double max_wait_ms = 0;                          ///< the longest Ticket::wait() of this run
};
using History = std::vector<RunHistory>;

struct WorkloadShape {
  int runs = 4;
  int producers = 2;
  int pushes_per_producer = 40;
  int wait_every = 4;  ///< a producer waits for its tickets after this many pushes
  Durability durability = Durability::batch;
  std::size_t syncfs_files = 1;  ///< Options::syncfsFiles (1: every wave is one syncfs; 0: never)
  bool journal = false;          ///< Options::journal, with 16 KiB journal files (rotations and checkpoints)
};

/// The metadata every workload opens its runs with.
RunMetadata CrashMeta(const std::string& task, const std::string& run);

/// Options for an engine on `fs` (small batches, 2 sync threads, every wave
/// one syncfs: syncfsFiles = 1).
Options CrashOptions(const std::shared_ptr<CrashFs>& fs, Durability d = Durability::batch);

/// Many producers pushing stdout, stderr and lifecycle records to many runs,
/// with `seed` choosing who pushes what where. Returns what happened; stops
/// early (without failing) when the file system fails.
History RandomWorkload(const std::shared_ptr<CrashFs>& fs, const WorkloadShape& shape, std::uint64_t seed);

/// One thread, two runs, every push waited for, a state patch, a checkpoint
/// reservation and a close: the same calls on the file system every time.
History ScriptedWorkload(const std::shared_ptr<CrashFs>& fs, bool journal = false);

/// Recovers every run of `history` on `fs` (an image after a crash) and
/// checks the invariants; "" when they hold, else what was violated.
/// With `twice`, also checks that recovering an exact copy of the recovered
/// state changes nothing.
std::string RecoverAndCheck(const std::shared_ptr<CrashFs>& fs, const History& history, bool twice);

/// "RUNLOG_CRASH_SEED=<seed> <binary> --gtest_filter=<current test>": how to
/// replay one case.
std::string ReplayCommand(std::uint64_t seed);

}  // namespace runlog::testing
