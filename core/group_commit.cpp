// core/group_commit.cpp — group commit, in the order it happens (the story is
// told in core/group_commit.h): write the batch, start a wave, the sync pool
// runs it, wave_done acknowledges. Sequencer methods run on the sequencer
// thread; SyncPool::loop on the sync threads.
#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/group_commit.h"
#include "core/sequencer.h"

namespace runlog::detail {

namespace {
constexpr std::uint64_t kWritebackBytes = std::uint64_t{256} << 10;  // journal mode: see write_stream
}  // namespace

// ------------------------------------------------------ 1. write the batch

void Sequencer::write_stream(StreamState& s) {
  s.own.dirty_listed = false;
  if (s.failed.load(std::memory_order_relaxed)) {
    for (auto& c : s.own.out) put_chain(c);
    return;
  }
  WaveJournal* const journal = s.conversation ? nullptr : journal_;
  Status st = journal != nullptr && journal_failed_ ? journal_error_ : ensure_open(s);
  for (int ci = 0; ci < kRunChannels && st.ok(); ++ci) {
    OutChain& c = s.own.out[ci];
    if (c.bytes == 0) continue;
    std::uint64_t offset = s.own.size[ci];
    for (Page* p = c.head; p != nullptr && st.ok();) {
      iov_.clear();
      std::size_t chunk_bytes = 0;
      for (; p != nullptr && iov_.size() < IOV_MAX; p = p->next) {
        iov_.push_back({p->data, p->used});
        chunk_bytes += p->used;
      }
      st = s.storage->append(static_cast<Channel>(ci), iov_.data(), static_cast<int>(iov_.size()), offset);
      if (st.ok() && journal != nullptr)
        journal->add(s.storage->journal_path(static_cast<Channel>(ci)), offset, iov_.data(), static_cast<int>(iov_.size()));
      offset += chunk_bytes;
    }
    if (!st.ok()) break;
    s.own.size[ci] = offset;
    s.written_count[ci].store(s.own.encoded_count[ci], std::memory_order_relaxed);
    core_.n_bytes.fetch_add(c.bytes, std::memory_order_relaxed);
    put_chain(c);
    if (journal != nullptr) {
      next_wave_->journal = true;  // one fdatasync of the journal covers this file
      // The run file is synced only by checkpoints: start its writeback every
      // 256 KiB (no wait, no flush), so that dirty pages never pile up for a
      // checkpoint's syncfs to write at once while the journal's flushes wait.
      if (offset - s.own.written_back[ci] >= kWritebackBytes) {
        s.storage->start_writeback(static_cast<Channel>(ci), s.own.written_back[ci], offset - s.own.written_back[ci]);
        s.own.written_back[ci] = offset;
      }
    } else if (batch_mode() && !s.own.unsynced[ci]) {
      s.own.unsynced[ci] = true;
      SyncTask t;
      t.stream = &s;
      t.channel = ci;
      next_wave_->tasks.push_back(std::move(t));
    }
  }
  if (!st.ok()) return fail_stream(s, st);
  const std::uint64_t appended = s.own.next_seq - 1;
  s.appended.store(appended, std::memory_order_release);
  if (batch_mode()) {
    if (!s.own.target_listed) {
      s.own.target_listed = true;
      next_wave_->stream_targets.push_back({&s, 0});
    }
  } else {  // durability none: acknowledged once written
    s.durable.store(appended, std::memory_order_release);
    st = s.storage->write_durable(appended);
    if (!st.ok()) fail_stream(s, st);
  }
}

void Sequencer::write_batch() {
  const std::int64_t started_ns = mono_ns();
  for (StreamState* s : dirty_) write_stream(*s);
  dirty_.clear();
  if (journal_ != nullptr && !journal_failed_) {
    // The frames go out after every channel write of the batch succeeded, so
    // a journal never names bytes of a batch that was not wholly written.
    if (Status st = journal_->write(); !st.ok()) {
      fail_journal(st);
    } else if (journal_->full()) {
      // A failed rotation keeps the current file (retried next batch).
      (void)journal_->rotate();
    }
  }
  last_write_ns_ = mono_ns() - started_ns;
  core_.n_records.fetch_add(batch_records_, std::memory_order_relaxed);
  core_.n_batches.fetch_add(1, std::memory_order_relaxed);
  if (batch_mode()) {
    for (auto& [s, target] : next_wave_->stream_targets) target = s->appended.load(std::memory_order_relaxed);
    next_wave_->push_ns.insert(next_wave_->push_ns.end(), batch_push_ns_.begin(), batch_push_ns_.end());
    next_wave_->release_bytes += batch_release_;
  } else {
    acknowledge_now();
  }
  batch_push_ns_.clear();
  batch_release_ = 0;
  batch_bytes_ = 0;
  batch_records_ = 0;
  batch_open_ = false;
}

// Durability none: a record is acknowledged once written.
void Sequencer::acknowledge_now() {
  const std::int64_t now = wall_ns();
  for (std::int64_t t : batch_push_ns_) core_.ack_latency.record(now - t);
  core_.release_budget(batch_release_);
  check_pending();
  core_.publish_resolution();
}

bool Sequencer::retry_state_later(StreamState& s, const Status& st) {
  if (st.sys_errno() != EMFILE && st.sys_errno() != ENFILE) return false;
  if (s.failed.load(std::memory_order_relaxed) || ++s.own.state_failures > kStateRetries) return false;
  const std::int64_t delay_ms = std::min<std::int64_t>(std::int64_t{10} << std::min(s.own.state_failures - 1, 5), 200);
  s.own.state_retry_ns = mono_ns() + delay_ms * 1'000'000;
  return true;
}

// state.json replacements (a temp file, two syncs and a rename each) run on
// their own pool, in their own waves, so that a wave of log syncs (what
// records wait for) never waits for them: a status change on each of 256 runs
// would otherwise put 512 device flushes in front of every acknowledgement.
void Sequencer::start_state_wave() {
  const bool checkpoint = journal_ != nullptr && !journal_failed_ && journal_->checkpoint_due();
  if (state_in_flight_ || (state_pending_.empty() && !checkpoint)) return;
  Wave& w = *state_wave_;
  // Those whose records are acknowledged.
  std::size_t keep = 0;
  for (StreamState* s : state_pending_) {
    bool ready = s->failed.load(std::memory_order_relaxed) ||
                 s->durable.load(std::memory_order_relaxed) >= s->own.state_needed_seq;
    if (ready && s->own.state_failures > 0 && mono_ns() < s->own.state_retry_ns) ready = false;
    if (!ready || s->failed.load(std::memory_order_relaxed)) {
      if (!s->failed.load(std::memory_order_relaxed)) state_pending_[keep++] = s;
      else s->own.state_task_listed = false;
      continue;
    }
    s->own.state_task_listed = false;
    if (Status st = ensure_open(*s); !st.ok()) {  // its idle files may have been closed
      if (retry_state_later(*s, st)) {
        state_pending_[keep++] = s;
        s->own.state_task_listed = true;
      } else {
        fail_stream(*s, st);
      }
      continue;
    }
    SyncTask t;
    t.stream = s;
    t.channel = kStateTask;
    {
      std::lock_guard<std::mutex> lock(s->state_mu);
      s->state.lastEventSeq = s->durable.load(std::memory_order_relaxed);
      t.state = s->state;
    }
    t.state_gen = s->own.state_gen;
    w.tasks.push_back(std::move(t));
  }
  state_pending_.resize(keep);
  if (checkpoint) {
    SyncTask t;
    t.channel = kCheckpointTask;
    w.tasks.push_back(std::move(t));
  }
  if (w.tasks.empty()) return;
  for (SyncTask& t : w.tasks)
    if (t.stream != nullptr) ++t.stream->own.tasks_in_flight;
  state_in_flight_ = true;
  core_.state_pool->run(&w);
}

void Sequencer::start_wave() {
  if (next_wave_->empty()) return;

  Wave* w = next_wave_;
  next_wave_ = (w == waves_[0].get()) ? waves_[1].get() : waves_[0].get();
  if (w->journal) {
    SyncTask t;
    t.channel = kJournalTask;
    w->tasks.push_back(std::move(t));
  }
  cover_with_syncfs(*w);
  for (std::vector<SyncTask>* list : {&w->tasks, &w->covered})
    for (SyncTask& t : *list) {
      if (t.stream == nullptr) continue;  // a volume task
      ++t.stream->own.tasks_in_flight;
      if (t.channel >= 0) t.stream->own.unsynced[t.channel] = false;
    }
  for (auto& st : w->stream_targets) st.first->own.target_listed = false;
  in_flight_ = w;
  w->started_ns = mono_ns();
  if (w->tasks.empty()) {
    wave_done(*w);
    return;
  }
  // Files must be open while their sync is in flight (eviction skips them).
  core_.sync_pool->run(w);
}

// A wave of at least Options::syncfsFiles log files: their fdatasyncs become
// one syncfs per file system (runs, conversations). The channel tasks move to
// w.covered, so the bookkeeping per stream stays as it is; the vectors keep
// their capacity (no allocation in steady state).
void Sequencer::cover_with_syncfs(Wave& w) {
  const std::size_t threshold = core_.options.syncfsFiles;
  if (threshold == 0) return;
  std::size_t files = 0;
  for (const SyncTask& t : w.tasks) files += t.channel >= 0 ? 1 : 0;
  if (files < threshold) return;
  bool volumes[2] = {false, false};
  std::size_t keep = 0;
  for (std::size_t i = 0; i < w.tasks.size(); ++i) {
    SyncTask& t = w.tasks[i];
    if (t.channel < 0) {
      if (keep != i) w.tasks[keep] = std::move(t);
      ++keep;
      continue;
    }
    volumes[t.stream->conversation ? 1 : 0] = true;
    w.covered.push_back(std::move(t));
  }
  w.tasks.resize(keep);
  for (int v = 0; v < 2; ++v) {
    if (!volumes[v]) continue;
    SyncTask t;
    t.channel = kVolumeTask;
    t.volume = v == 0 ? Volume::runs : Volume::conversations;
    w.tasks.push_back(std::move(t));
  }
}

// A failed syncfs: Linux reports it once per file system and marks the failed
// pages clean, so neither the files of this wave nor any file written on that
// file system since (the next wave's) can be trusted to a later syncfs. Every
// such stream is fail-stopped.
void Sequencer::fail_volume(Wave& w, Volume volume, const Status& st) {
  const bool conv = volume == Volume::conversations;
  auto fail = [&](SyncTask& t) {
    if (t.stream->conversation != conv || t.stream->failed.load(std::memory_order_relaxed)) return;
    fail_stream(*t.stream, Status(st.code(), st.sys_errno(),
                                  fmt::format("{} (it covered {})", st.message(),
                                              t.stream->storage->describe(static_cast<Channel>(t.channel)))));
  };
  for (SyncTask& t : w.covered) fail(t);
  for (SyncTask& t : next_wave_->tasks)
    if (t.channel >= 0) fail(t);
}

// The journal failed (a write, an fdatasync or a checkpoint's syncfs): its
// files' state is unknown, and Linux may have dropped the failed pages, so no
// later sync or checkpoint is trusted. Every run stream with bytes written
// since (the accumulating wave's) is fail-stopped now, every other one at its
// next write; the journal files stay for the next opener to finish.
void Sequencer::fail_journal(const Status& st) {
  if (!journal_failed_) {
    journal_failed_ = true;
    journal_error_ = Status(st.code(), st.sys_errno(), fmt::format("the journal failed: {}", st.message()));
  }
  fail_journaled_targets(*next_wave_);
}

void Sequencer::fail_journaled_targets(Wave& w) {
  for (auto& [s, target] : w.stream_targets)
    if (!s->conversation && !s->failed.load(std::memory_order_relaxed)) fail_stream(*s, journal_error_);
}

void Sequencer::wave_done(Wave& w) {
  const bool state_wave = &w == state_wave_.get();
  for (SyncTask& t : w.tasks) {
    if (t.channel == kVolumeTask) {
      core_.n_fsyncs.fetch_add(1, std::memory_order_relaxed);
      if (!t.result.ok()) fail_volume(w, t.volume, t.result);
      continue;
    }
    if (t.channel == kJournalTask || t.channel == kCheckpointTask) {
      if (t.channel == kJournalTask) core_.n_fsyncs.fetch_add(1, std::memory_order_relaxed);
      if (!t.result.ok()) {
        fail_journal(t.result);
        // This wave's frames may be lost with the failed sync.
        if (t.channel == kJournalTask) fail_journaled_targets(w);
      }
      continue;
    }
    --t.stream->own.tasks_in_flight;
    if (!t.result.ok()) {
      if (t.channel == kStateTask && retry_state_later(*t.stream, t.result)) schedule_state(*t.stream);
      else fail_stream(*t.stream, t.result);
      continue;
    }
    if (t.channel >= 0) {
      core_.n_fsyncs.fetch_add(1, std::memory_order_relaxed);
    } else {
      t.stream->own.state_written_gen = std::max(t.stream->own.state_written_gen, t.state_gen);
      t.stream->own.state_failures = 0;
    }
  }
  for (SyncTask& t : w.covered) --t.stream->own.tasks_in_flight;
  for (auto& [s, target] : w.stream_targets) {
    if (s->failed.load(std::memory_order_relaxed)) continue;
    if (target > s->durable.load(std::memory_order_relaxed)) {
      s->durable.store(target, std::memory_order_release);
      if (s->storage->files_open()) {
        Status st = s->storage->write_durable(target);
        if (!st.ok()) fail_stream(*s, st);
      }
    }
  }
  const std::int64_t now = wall_ns();
  for (std::int64_t t : w.push_ns) core_.ack_latency.record(now - t);
  if (!w.tasks.empty() && !state_wave) core_.n_waves.fetch_add(1, std::memory_order_relaxed);
  core_.release_budget(w.release_bytes);
  w.clear();
  if (state_wave) {
    state_in_flight_ = false;
  } else {
    last_wave_ns_ = mono_ns() - w.started_ns;
    in_flight_ = nullptr;
  }
  check_pending();
  core_.publish_resolution();
}

// ---------------------------------------------------------- 3. the sync pool

SyncPool::SyncPool(EngineCore& core, unsigned threads) : core_(core) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "runlog-sync");
      loop();
    });
}

SyncPool::~SyncPool() {
  stop_.store(true, std::memory_order_release);
  work_.signal(static_cast<ssize_t>(threads_.size()));
  for (auto& t : threads_) t.join();
}

void SyncPool::run(Wave* w) {
  unsigned workers = static_cast<unsigned>(std::min<std::size_t>(threads_.size(), w->tasks.size()));
  w->next.store(0, std::memory_order_relaxed);
  w->workers.store(workers, std::memory_order_relaxed);
  current_.store(w, std::memory_order_release);
  work_.signal(static_cast<ssize_t>(workers));
}

// Runs on a sync thread. Each permit of work_ belongs to the current wave: the
// next wave cannot start before every worker of this one has checked out.
void SyncPool::loop() {
  for (;;) {
    work_.wait();
    if (stop_.load(std::memory_order_acquire)) return;
    Wave* w = current_.load(std::memory_order_acquire);
    for (;;) {
      std::size_t i = w->next.fetch_add(1, std::memory_order_relaxed);
      if (i >= w->tasks.size()) break;
      SyncTask& t = w->tasks[i];
      if (t.channel >= 0) t.result = t.stream->storage->sync(static_cast<Channel>(t.channel));
      else if (t.channel == kVolumeTask) t.result = core_.storage->sync_volume(t.volume);
      else if (t.channel == kJournalTask) t.result = core_.storage->journal()->sync();
      else if (t.channel == kCheckpointTask) t.result = core_.storage->journal()->checkpoint();
      else t.result = t.stream->storage->write_state(t.state);
    }
    if (w->workers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      w->done_msg.op = Control::Op::wave_done;
      w->done_msg.wave = w;
      while (!core_.controls.enqueue(&w->done_msg)) std::this_thread::yield();
      core_.nudge();
    }
  }
}

}  // namespace runlog::detail
