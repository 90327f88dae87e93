// core/sequencer.cpp — the one thread that assigns seqs, encodes, writes and
// acknowledges: its loop, records and controls. Batches and waves (group
// commit) are in core/group_commit.cpp. See docs/design.md for the loop;
// everything in this file runs on the sequencer thread unless a comment says
// otherwise.
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/chunk_codec.h"
#include "core/engine_internal.h"
#include "core/ids.h"
#include "core/lifecycle.h"
#include "core/line_encoder.h"
#include "core/sequencer.h"
#include "core/timefmt.h"
#include "core/utf8.h"

namespace runlog::detail {
namespace {

constexpr std::size_t kRoundMax = 4096;   // records per round, between batch and wave checks
constexpr std::uint64_t kAfterClose = UINT64_MAX;  // Control::wait_seq of a close that follows another

}  // namespace

// Takes records from the producers merged by push time: always from the one
// whose last record taken is the oldest, a small bulk at a time. Tickets are
// taken at push time, so each run's records arrive nearly in ticket order and
// the reorder rings stay nearly empty (equal-count turns let one producer's
// older backlog hold back every run's records of the other). Controls first.
// Returns how many items it took; *drained: every producer came up empty.
std::size_t Sequencer::take_round(bool* drained) {
  Control* controls[64];
  std::size_t took = 0;
  for (;;) {
    std::size_t n = core_.controls.try_dequeue_bulk(controls, 64);
    for (std::size_t i = 0; i < n; ++i) process_control(*controls[i]);
    took += n;
    if (n < 64) break;
  }
  const std::uint64_t version = core_.slots_version.load(std::memory_order_acquire);
  if (version != slots_version_) {
    std::lock_guard<std::mutex> lock(core_.slots_mu);
    slots_.clear();
    for (auto& slot : core_.slots) slots_.push_back({slot.get(), 0, false});
    slots_version_ = version;
  }
  for (SlotCursor& c : slots_) c.empty = false;
  std::size_t records = 0;
  while (records < kRoundMax) {
    SlotCursor* pick = nullptr;
    for (SlotCursor& c : slots_)
      if (!c.empty && (pick == nullptr || c.last_ns < pick->last_ns)) pick = &c;
    if (pick == nullptr) break;
    std::size_t n = core_.queue.try_dequeue_bulk_from_producer(pick->slot->token, items_.begin(), kBulk);
    if (n < kBulk) pick->empty = true;
    if (n == 0) continue;
    pick->last_ns = items_[n - 1].push_ns;
    for (std::size_t i = 0; i < n; ++i) arrive(items_[i]);
    records += n;
  }
  *drained = records < kRoundMax;
  return took + records;
}

void Sequencer::run() {
  const std::int64_t delay_ns = core_.options.maxBatchDelay.count() * 1000;
  for (;;) {
    bool drained = true;
    std::size_t took = take_round(&drained);
    if (took == 0) {
      // Nothing anywhere: sleep until a sender nudges, the batch is due, or a
      // while has passed (the eventcount's timeout is only a safety net).
      std::int64_t timeout_us = 100'000;
      if (batch_open_) {
        std::int64_t left = batch_started_ns_ + batch_due_ns(delay_ns) - mono_ns();
        timeout_us = std::max<std::int64_t>(0, left / 1000);
      }
      if (timeout_us > 0 && !shutdown_) {
        core_.going_to_sleep();
        if (core_.queue.size_approx() == 0 && core_.controls.size_approx() == 0) core_.wake.wait(timeout_us);
        core_.sleeping.store(0, std::memory_order_relaxed);
        took = take_round(&drained);
      }
    }
    behind_ = !drained;
    if (batch_open_) {
      bool full = batch_full();
      bool late = mono_ns() - batch_started_ns_ >= batch_due_ns(delay_ns);
      if (full || late || (drained && in_flight_ == nullptr) || shutdown_) write_batch();
    }
    if (in_flight_ == nullptr) start_wave();
    start_state_wave();
    if (!pending_.empty()) check_pending();
    if (core_.descriptors.load(std::memory_order_relaxed) > static_cast<std::int64_t>(core_.options.openFileLimit))
      evict_idle();
    if (shutdown_ && !batch_open_ && in_flight_ == nullptr && !state_in_flight_ && next_wave_->empty() &&
        pending_.empty() &&
        core_.queue.size_approx() == 0 && core_.controls.size_approx() == 0)
      break;
  }
  // A clean close leaves no journal: one syncfs makes the run files durable,
  // then it goes. If that fails, or the journal failed before, it stays, and
  // the next opener of the runs root finishes it.
  if (journal_ != nullptr && !journal_failed_) (void)journal_->close();
}

// ------------------------------------------------------------------ records

// Records of a run are sequenced in ticket order, whatever order the queue
// hands them over in: a ticket that comes early waits in the run's ring.
void Sequencer::arrive(Item& it) {
  StreamState& s = *it.stream;
  if (it.ticket != s.own.expected) {
    std::size_t ahead = static_cast<std::size_t>(it.ticket - s.own.expected);
    if (ahead >= s.own.early.size()) {  // grow (rare): re-place what waits
      std::size_t size = s.own.early.empty() ? 64 : s.own.early.size();
      while (size <= ahead) size *= 2;
      std::vector<Item> grown(size);  // a power of two
      for (Item& e : s.own.early)
        if (e.stream != nullptr) grown[e.ticket & (size - 1)] = e;
      s.own.early.swap(grown);
    }
    s.own.early[it.ticket & (s.own.early.size() - 1)] = it;
    ++s.own.early_count;
    return;
  }
  sequence(it);
  while (s.own.early_count > 0) {
    Item& next = s.own.early[s.own.expected & (s.own.early.size() - 1)];
    if (next.stream == nullptr || next.ticket != s.own.expected) break;
    Item ready = next;
    next = Item{};
    --s.own.early_count;
    sequence(ready);
  }
  if (s.own.close != nullptr && s.own.expected > s.own.close->close_at) take_close(s);
}

void Sequencer::sequence(Item& it) {
  StreamState& s = *it.stream;
  ++s.own.expected;
  // closed_seq: a push that raced Run::close() and took its ticket after the
  // sequencer took the close; its wait() says closed (last_ticket_seq).
  if (s.failed.load(std::memory_order_relaxed) || s.own.closed_seq) return drop(it);
  if (it.kind == Kind::chunk) process_chunk(it);
  else if (it.kind == Kind::stored) process_stored(it);
  else process_event(it);
}

// A record of a failed run: its budget and memory go back; its ticket reports
// the run's error.
void Sequencer::drop(Item& it) { taken(it); }

void Sequencer::open_batch() {
  if (!batch_open_) {
    batch_open_ = true;
    batch_started_ns_ = mono_ns();
  }
}

void Sequencer::taken(Item& it) {
  batch_release_ += it.len;
  open_batch();
  if (it.block != nullptr) core_.blocks.release(it.block, 1);
}

char* Sequencer::line_buffer(std::size_t bound) {
  if (line_.size() < bound) line_.resize(bound);
  return line_.data();
}

void Sequencer::mark_dirty(StreamState& s) {
  if (!s.own.dirty_listed) {
    s.own.dirty_listed = true;
    dirty_.push_back(&s);
  }
}

void Sequencer::add_page(OutChain& c) {
  Page* p = get_page();
  if (c.tail) c.tail->next = p; else c.head = p;
  c.tail = p;
  ++c.pages;
}

void Sequencer::append_line(StreamState& s, Channel ch, const char* line, std::size_t n) {
  OutChain& c = s.own.out[static_cast<int>(ch)];
  while (n > 0) {
    if (c.tail == nullptr || c.tail->used == kPageSize) add_page(c);
    std::size_t room = kPageSize - c.tail->used;
    std::size_t k = n < room ? n : room;
    std::memcpy(c.tail->data + c.tail->used, line, k);
    c.tail->used += k;
    c.bytes += k;
    line += k;
    n -= k;
  }
}

void Sequencer::emit_chunk(StreamState& s, Channel ch, std::int64_t created_ms, std::int64_t push_ns,
                           const char* data, std::size_t n) {
  std::uint64_t seq = s.own.next_seq++;
  const std::size_t bound = chunk_line_bound(n);
  OutChain& c = s.own.out[static_cast<int>(ch)];
  if (bound <= kPageSize && (c.tail == nullptr || c.tail->used == kPageSize)) add_page(c);
  std::size_t len;
  if (c.tail != nullptr && kPageSize - c.tail->used >= bound) {
    // The common case: encoded in place at the end of the file's last page
    // (no copy of the line). Otherwise through line_ and split across pages.
    len = encode_chunk_line(c.tail->data + c.tail->used, seq, ch, created_ms, data, n, &iso_);
    c.tail->used += len;
    c.bytes += len;
  } else {
    char* line = line_buffer(bound);
    len = encode_chunk_line(line, seq, ch, created_ms, data, n, &iso_);
    append_line(s, ch, line, len);
  }
  ++s.own.encoded_count[static_cast<int>(ch)];
  note_line(s, len, push_ns);
}

// A full batch goes out at once (even in the middle of draining a reorder
// ring): encoded pages never hold much more than batch_full()'s bound (at
// most kFullMax x maxBatchBytes).
void Sequencer::note_line(StreamState& s, std::size_t len, std::int64_t push_ns) {
  batch_bytes_ += len;
  ++batch_records_;
  batch_push_ns_.push_back(push_ns);
  mark_dirty(s);
  open_batch();
  if (batch_full()) write_batch();
}

// Full at maxBatchBytes, or, for a batch that touches many runs, at
// kFullPerStream bytes per run up to kFullMax x maxBatchBytes: a write costs
// about one pwritev per file whatever its size (ext4 dirties the inode, looks
// up the extent and the page for each), so a batch spread over 256 runs at
// 4 MiB gave each file one write of about 5 KiB. Only a sequencer that is
// behind fills a batch (otherwise it goes out at maxBatchDelay).
bool Sequencer::batch_full() const {
  const std::size_t max = core_.options.maxBatchBytes;
  if (batch_bytes_ < max) return false;
  return batch_bytes_ >= std::min(kFullMax * max, std::max(max, dirty_.size() * kFullPerStream));
}

void Sequencer::process_chunk(Item& it) {
  StreamState& s = *it.stream;
  const Channel ch = static_cast<Channel>(it.aux);
  auto& carries = s.own.carries[ch == Channel::stdout_ ? 0 : 1];
  const char* data = it.data;
  std::size_t n = it.len;
  // A character this producer split across pushes is joined back.
  auto held = std::find_if(carries.begin(), carries.end(),
                           [&](const SequencerOwned::Carry& c) { return c.producer == it.producer; });
  if (held != carries.end()) {
    joined_.resize(held->len + n);
    std::memcpy(joined_.data(), held->bytes.data(), held->len);
    std::memcpy(joined_.data() + held->len, data, n);
    data = joined_.data();
    n = joined_.size();
    carries.erase(held);
  }
  std::size_t tail = it.final ? 0 : utf8_incomplete_tail(data, n);
  std::size_t body = n - tail;
  if (tail > 0) {
    SequencerOwned::Carry c{it.producer, {}, static_cast<std::uint8_t>(tail)};
    std::memcpy(c.bytes.data(), data + body, tail);
    carries.push_back(c);
  }
  emit_chunk(s, ch, it.created_ms, it.push_ns, data, body);
  taken(it);
}

void Sequencer::apply_event_to_state(StreamState& s, EventType type, std::int64_t exit_code,
                                     std::int64_t created_ms, std::uint64_t seq) {
  std::lock_guard<std::mutex> lock(s.state_mu);
  char iso[kIsoLength];  // assigned into the strings' existing capacity: no allocation per event
  format_iso_ms(created_ms, iso);
  const bool changed =
      apply_lifecycle_event(&s.state, type,
                            exit_code != kNoExitCode ? std::optional<std::int64_t>(exit_code) : std::nullopt,
                            std::string_view(iso, kIsoLength));
  if (changed) {
    ++s.own.state_gen;
    s.own.state_needed_seq = seq;
    schedule_state(s);
  }
}

void Sequencer::emit_event(StreamState& s, EventType type, std::int64_t exit_code, std::int64_t created_ms,
                           std::int64_t push_ns, std::string_view fragment) {
  std::uint64_t seq = s.own.next_seq++;
  char* line = line_buffer(event_line_bound(fragment.size()));
  std::size_t len = encode_event_line(line, seq, fragment);
  append_line(s, Channel::worker, line, len);
  ++s.own.encoded_count[0];
  apply_event_to_state(s, type, exit_code, created_ms, seq);
  note_line(s, len, push_ns);
}

void Sequencer::process_event(Item& it) {
  StreamState& s = *it.stream;
  std::int64_t exit_code;
  std::memcpy(&exit_code, it.data, sizeof exit_code);
  std::string_view fragment(it.data + sizeof exit_code, it.len - sizeof exit_code);
  emit_event(s, static_cast<EventType>(it.aux), exit_code, it.created_ms, it.push_ns, fragment);
  taken(it);
}

// A conversation's chunk: the producer built and checked its fragment; the
// sequencer only numbers it and adds the crc (one channel, chunks.jsonl).
void Sequencer::process_stored(Item& it) {
  StreamState& s = *it.stream;
  std::uint64_t seq = s.own.next_seq++;
  char* line = line_buffer(stored_line_bound(it.len));
  std::size_t len = encode_stored_line(line, seq, std::string_view(it.data, it.len));
  append_line(s, Channel::worker, line, len);
  ++s.own.encoded_count[0];
  note_line(s, len, it.push_ns);
  taken(it);
}

// ----------------------------------------------------------------- controls

void Sequencer::schedule_state(StreamState& s) {
  if (!s.own.state_task_listed) {
    s.own.state_task_listed = true;
    state_pending_.push_back(&s);
  }
}

void Sequencer::process_control(Control& c) {
  switch (c.op) {
    case Control::Op::wave_done: return wave_done(*c.wave);
    case Control::Op::shutdown:
      shutdown_ = true;
      c.complete(Status::OK());
      return;
    default: break;
  }
  StreamState& s = *c.stream;
  if (c.op == Control::Op::close_run) {
    if (s.own.closed_seq || s.own.close != nullptr || s.failed.load(std::memory_order_relaxed)) {
      // A failed run is closed as it stands; a second close waits for the first.
      c.wait_seq = kAfterClose;
      pending_.push_back(&c);
      if (!s.own.closed_seq && s.own.close == nullptr) {  // failed: nothing more will be written
        s.own.closed_seq = true;
      }
      return;
    }
    s.own.close = &c;
    if (s.own.expected > c.close_at) take_close(s);
    return;
  }
  if (s.failed.load(std::memory_order_relaxed)) return c.complete(s.error);
  if (s.own.closed_seq || s.own.close != nullptr)
    return c.complete(Status(Errc::closed, 0, fmt::format("run {} is closed", s.key)));
  const std::int64_t now_ms = now_unix_ms();
  switch (c.op) {
    case Control::Op::patch_state: {
      {
        std::lock_guard<std::mutex> lock(s.state_mu);
        const RunStatePatch& p = c.patch;
        RunStateSnapshot& st = s.state;
        if (p.status) st.status = *p.status;
        st.updatedAt = p.updatedAt ? *p.updatedAt : iso_ms(now_ms);
        if (p.finishedAt) st.finishedAt = *p.finishedAt;
        if (p.checkpointSeq) st.checkpointSeq = *p.checkpointSeq;
        if (p.summary) st.summary = *p.summary;
        if (p.exitCode) st.exitCode = *p.exitCode;
        // lastEventSeq is the engine's: it is the durable seq at each write.
      }
      ++s.own.state_gen;
      c.wait_state_gen = s.own.state_gen;
      schedule_state(s);
      pending_.push_back(&c);
      return;
    }
    case Control::Op::reserve_checkpoint: {
      // A close sent after this check finds this event's ticket sequenced
      // before it takes the close (the event goes to arrive() right here).
      if (s.closing.load(std::memory_order_seq_cst))
        return c.complete(Status(Errc::closed, 0, fmt::format("run {} is closed", s.key)));
      std::uint64_t n = 0;
      {
        std::lock_guard<std::mutex> lock(s.state_mu);
        n = std::max(s.own.checkpoints, s.state.checkpointSeq) + 1;
      }
      Status st = ensure_open(s);
      if (st.ok()) st = s.storage->make_checkpoint(n);
      if (!st.ok()) return c.complete(st);
      s.own.checkpoints = n;
      // The event takes the next ticket, so it is sequenced after everything
      // already pushed to the run.
      std::string data = fmt::format(R"({{"slot":{}}})", n);
      std::string message = fmt::format("checkpoint slot {} reserved", n);
      std::string fragment = encode_event_fragment(random_uuid(), EventType::checkpoint_slot_reserved,
                                                   LogLevel::info, now_ms, message, data);
      const std::int64_t no_code = kNoExitCode;
      Item it;
      it.stream = &s;
      it.kind = Kind::event;
      it.aux = static_cast<std::uint8_t>(EventType::checkpoint_slot_reserved);
      it.created_ms = now_ms;
      it.push_ns = wall_ns();
      it.len = static_cast<std::uint32_t>(sizeof no_code + fragment.size());
      it.block = core_.blocks.make_large(it.len);
      std::memcpy(it.block->data(), &no_code, sizeof no_code);
      std::memcpy(it.block->data() + sizeof no_code, fragment.data(), fragment.size());
      it.data = it.block->data();
      core_.in_flight.fetch_add(it.len, std::memory_order_relaxed);  // released like any record
      it.ticket = s.reserved.fetch_add(1, std::memory_order_seq_cst) + 1;
      c.value = n;
      c.wait_seq = s.base + it.ticket;
      pending_.push_back(&c);
      arrive(it);
      return;
    }
    default: return;
  }
}

// Every ticket taken before close() is sequenced: flush what producers held
// back (as U+FFFD with its bytes), then wait for the last wave and state.json.
void Sequencer::take_close(StreamState& s) {
  Control& c = *s.own.close;
  s.own.close = nullptr;
  // Every ticket before `expected` is sequenced (close_at and any that raced
  // past it); later ones are dropped. Published before the held-back tails
  // below take seqs of their own, and waiters of dropped tickets are woken.
  s.last_ticket_seq.store(s.base + s.own.expected - 1, std::memory_order_seq_cst);
  core_.publish_resolution();
  const std::int64_t now_ms = now_unix_ms();
  for (int ci = 0; ci < 2; ++ci) {
    const Channel ch = ci == 0 ? Channel::stdout_ : Channel::stderr_;
    for (const SequencerOwned::Carry& held : s.own.carries[ci]) {
      if (s.failed.load(std::memory_order_relaxed)) break;
      emit_chunk(s, ch, now_ms, wall_ns(), held.bytes.data(), held.len);
      open_batch();
    }
    s.own.carries[ci].clear();
  }
  s.own.closed_seq = true;
  if (!s.conversation) {  // a conversation has no state.json
    {
      std::lock_guard<std::mutex> lock(s.state_mu);
      s.state.updatedAt = iso_ms(now_ms);
    }
    ++s.own.state_gen;
    s.own.state_needed_seq = s.own.next_seq - 1;
    schedule_state(s);
  }
  c.wait_seq = s.own.next_seq - 1;
  c.wait_state_gen = s.own.state_gen;
  pending_.push_back(&c);
}

void Sequencer::finish_close(StreamState& s) {
  if (s.closed.load(std::memory_order_relaxed)) return;
  if (s.storage->files_open())
    core_.descriptors.fetch_sub(s.storage->descriptor_count(), std::memory_order_relaxed);
  s.storage->release();
  lru_unlink(s);
  {
    std::lock_guard<std::mutex> lock(core_.runs_mu);
    auto found = core_.open_runs.find(s.key);
    if (found != core_.open_runs.end() && found->second == &s) core_.open_runs.erase(found);
  }
  s.closed.store(true, std::memory_order_release);
}

void Sequencer::check_pending() {
  std::size_t keep = 0;
  for (Control* c : pending_) {
    StreamState& s = *c->stream;
    bool failed = s.failed.load(std::memory_order_relaxed);
    bool ready;
    if (c->wait_seq == kAfterClose) {  // a second close, or the close of a failed run
      ready = s.closed.load(std::memory_order_relaxed) || (failed && s.own.close == nullptr);
      if (ready && failed) {
        if (s.own.tasks_in_flight > 0) ready = false;
        else finish_close(s);
      }
    } else {
      bool durable = s.durable.load(std::memory_order_relaxed) >= c->wait_seq;
      // A checkpoint's state.json generation is known once its event is sequenced.
      if (durable && c->op == Control::Op::reserve_checkpoint && c->wait_state_gen == 0)
        c->wait_state_gen = s.own.state_gen;
      ready = failed || (durable && s.own.state_written_gen >= c->wait_state_gen);
      if (ready && c->op == Control::Op::close_run) {
        if (s.own.tasks_in_flight > 0 || (!failed && s.own.state_task_listed)) ready = false;
        else finish_close(s);
      }
    }
    if (!ready) {
      pending_[keep++] = c;
      continue;
    }
    c->complete(failed ? s.error : Status::OK());
  }
  pending_.resize(keep);
}

// ------------------------------------------------------- batches and waves

Status Sequencer::ensure_open(StreamState& s) {
  if (!s.storage->files_open()) {
    RUNLOG_RETURN_IF_ERROR(s.storage->reopen_files());
    core_.descriptors.fetch_add(s.storage->descriptor_count(), std::memory_order_relaxed);
  }
  lru_touch(s);
  return Status::OK();
}

void Sequencer::fail_stream(StreamState& s, const Status& st) {
  if (s.failed.load(std::memory_order_relaxed)) return;
  s.error = st;
  s.failed.store(true, std::memory_order_release);
  core_.n_failed_streams.fetch_add(1, std::memory_order_relaxed);
  for (auto& c : s.own.out) put_chain(c);
}

// ---------------------------------------------------------------- the LRU

void Sequencer::lru_unlink(StreamState& s) {
  if (!s.own.lru_linked) return;
  if (s.own.lru_prev) s.own.lru_prev->own.lru_next = s.own.lru_next; else lru_head_ = s.own.lru_next;
  if (s.own.lru_next) s.own.lru_next->own.lru_prev = s.own.lru_prev; else lru_tail_ = s.own.lru_prev;
  s.own.lru_prev = s.own.lru_next = nullptr;
  s.own.lru_linked = false;
}

void Sequencer::lru_touch(StreamState& s) {
  if (s.own.lru_linked && lru_tail_ == &s) return;
  lru_unlink(s);
  s.own.lru_prev = lru_tail_;
  if (lru_tail_) lru_tail_->own.lru_next = &s; else lru_head_ = &s;
  lru_tail_ = &s;
  s.own.lru_linked = true;
}

void Sequencer::evict_idle() {
  const auto limit = static_cast<std::int64_t>(core_.options.openFileLimit);
  for (StreamState* s = lru_head_; s != nullptr && core_.descriptors.load(std::memory_order_relaxed) > limit;) {
    StreamState* next = s->own.lru_next;
    bool busy = s->own.tasks_in_flight > 0 || s->own.dirty_listed || s->own.target_listed || s->own.state_task_listed ||
                s->own.unsynced[0] || s->own.unsynced[1] || s->own.unsynced[2];
    if (!busy && s->storage->files_open()) {
      core_.descriptors.fetch_sub(s->storage->descriptor_count(), std::memory_order_relaxed);
      s->storage->close_files();
      lru_unlink(*s);
    }
    s = next;
  }
}

void run_sequencer(EngineCore& core) {
  Sequencer seq(core);
  seq.run();
}

}  // namespace runlog::detail
