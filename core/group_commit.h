// core/group_commit.h — group commit: the wave and the sync pool.
//
// The story, in the order it happens (core/group_commit.cpp):
//   1. Sequencer::write_batch: each dirty stream's encoded pages go out, one
//      pwritev per file (write_stream); each file written becomes a task of
//      the accumulating wave, each stream a target (its appended seq).
//   2. Sequencer::start_wave, when no wave is in flight: state.json writes
//      whose records are durable join; a wave of Options::syncfsFiles files
//      or more becomes one syncfs per file system (cover_with_syncfs); the
//      wave goes to the sync pool.
//   3. SyncPool: its threads run the wave's tasks concurrently (fdatasync a
//      file, syncfs a file system, replace a state.json); the last one to
//      finish sends wave_done on the control queue.
//   4. Sequencer::wave_done: failed tasks fail-stop their streams; every
//      target's durable watermark moves to the seq it had appended when the
//      wave started, durable.seq is rewritten, the budget is returned, and
//      waiters are woken.
// Threads: the sequencer builds, starts and finishes waves; a wave in flight
// belongs to the sync threads until wave_done.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "core/engine_internal.h"

namespace runlog::detail {

/// One group commit: the fsyncs (and state.json writes) of every file that
/// batches dirtied since the previous wave, run concurrently on the sync pool,
/// and what to acknowledge once they are done. Two Wave objects alternate:
/// one in flight, one accumulating; their vectors keep their capacity.
inline constexpr int kStateTask = -1;   ///< SyncTask::channel: replace state.json
inline constexpr int kVolumeTask = -2;  ///< SyncTask::channel: syncfs of `volume` (no stream)
inline constexpr int kJournalTask = -3;     ///< SyncTask::channel: fdatasync of the journal (no stream)
inline constexpr int kCheckpointTask = -4;  ///< SyncTask::channel: the journal's checkpoint (state pool, no stream)
struct SyncTask {
  StreamState* stream = nullptr;
  int channel = kStateTask;  ///< a channel to fdatasync, kStateTask or kVolumeTask
  Volume volume = Volume::runs;  ///< kVolumeTask
  RunStateSnapshot state;
  std::uint64_t state_gen = 0;
  Status result;
};

struct Wave {
  std::vector<SyncTask> tasks;  ///< what the sync threads run
  /// Channel syncs that a kVolumeTask in `tasks` stands for (a wave of at
  /// least Options::syncfsFiles files): their result is that task's.
  std::vector<SyncTask> covered;
  std::vector<std::pair<StreamState*, std::uint64_t>> stream_targets;
  std::vector<std::int64_t> push_ns;  ///< of every record it acknowledges
  std::uint64_t release_bytes = 0;    ///< budget returned when done
  bool journal = false;               ///< run files were written: the journal is synced
  std::int64_t started_ns = 0;
  // sync threads:
  std::atomic<std::size_t> next{0};
  std::atomic<unsigned> workers{0};
  Control done_msg;
  bool empty() const { return tasks.empty() && stream_targets.empty() && release_bytes == 0; }
  void clear() {
    tasks.clear();
    covered.clear();
    stream_targets.clear();
    push_ns.clear();
    release_bytes = 0;
    journal = false;
  }
};

/// The threads that run a wave's tasks. Started and stopped by EngineCore.
class SyncPool {
 public:
  SyncPool(struct EngineCore& core, unsigned threads);
  ~SyncPool();  ///< stops and joins
  /// Sequencer: runs every task of `w`; a wave_done control is enqueued when all are done.
  void run(Wave* w);

 private:
  void loop();
  struct EngineCore& core_;
  moodycamel::LightweightSemaphore work_;
  std::atomic<Wave*> current_{nullptr};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace runlog::detail
