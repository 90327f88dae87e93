// core/sequencer.h — the one thread that assigns seqs, encodes, writes and
// acknowledges. Records and controls: core/sequencer.cpp; batches and waves
// (group commit): core/group_commit.cpp. Every member runs on the sequencer
// thread.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/engine_internal.h"
#include "core/group_commit.h"
#include "core/line_encoder.h"

namespace runlog::detail {

class Sequencer {
 public:
  static constexpr std::size_t kBulk = 32;  ///< records taken from one producer at a time
  /// batch_full(): a batch that touches many runs may grow to this many bytes
  /// per run it touches, up to kFullMax x Options::maxBatchBytes.
  static constexpr std::size_t kFullPerStream = 48 * 1024;
  static constexpr std::size_t kFullMax = 4;

  explicit Sequencer(EngineCore& core) : core_(core) {
    waves_[0] = std::make_unique<Wave>();
    waves_[1] = std::make_unique<Wave>();
    next_wave_ = waves_[0].get();
    state_wave_ = std::make_unique<Wave>();
    items_.resize(kBulk);
    page_pool_cap_ = kFullMax * core.options.maxBatchBytes / kPageSize + 64;
    line_.resize(chunk_line_bound(4096));
    journal_ = batch_mode() ? core.storage->journal() : nullptr;
  }
  ~Sequencer() {
    for (Page* p : page_pool_) delete p;
  }

  void run();

 private:
  // ---- records
  std::size_t take_round(bool* drained);
  void arrive(Item& it);
  void sequence(Item& it);
  void process_chunk(Item& it);
  void process_event(Item& it);
  void process_stored(Item& it);
  void drop(Item& it);
  void emit_chunk(StreamState& s, Channel ch, std::int64_t created_ms, std::int64_t push_ns, const char* data,
                  std::size_t n);
  void emit_event(StreamState& s, EventType type, std::int64_t exit_code, std::int64_t created_ms,
                  std::int64_t push_ns, std::string_view fragment);
  void taken(Item& it);
  void open_batch();
  void add_page(OutChain& c);  // a page from the pool at the end of c
  void append_line(StreamState& s, Channel ch, const char* line, std::size_t n);
  void note_line(StreamState& s, std::size_t len, std::int64_t push_ns);
  bool batch_full() const;
  char* line_buffer(std::size_t bound);
  void mark_dirty(StreamState& s);
  void apply_event_to_state(StreamState& s, EventType type, std::int64_t exit_code, std::int64_t created_ms,
                            std::uint64_t seq);

  // ---- controls
  void process_control(Control& c);
  void take_close(StreamState& s);
  void check_pending();
  void finish_close(StreamState& s);

  // ---- batches and waves
  void write_batch();
  void write_stream(StreamState& s);
  void start_wave();
  void start_state_wave();
  void cover_with_syncfs(Wave& w);
  void wave_done(Wave& w);
  void fail_volume(Wave& w, Volume volume, const Status& st);
  void fail_journal(const Status& st);
  void fail_journaled_targets(Wave& w);
  void acknowledge_now();
  void fail_stream(StreamState& s, const Status& st);
  void schedule_state(StreamState& s);
  /// A state.json replacement (or the reopen before it) that failed for want
  /// of descriptors (EMFILE, ENFILE) is retried by a later state wave, 10 ms
  /// later and doubling up to 200 ms, at most kStateRetries times in a row:
  /// true when it is to be retried (the caller lists it again), false when
  /// the stream must fail.
  /// state.json is not what records wait for, and recovery rebuilds it.
  bool retry_state_later(StreamState& s, const Status& st);
  static constexpr int kStateRetries = 30;
  Status ensure_open(StreamState& s);
  void lru_touch(StreamState& s);
  void lru_unlink(StreamState& s);
  void evict_idle();

  Page* get_page() {
    if (!page_pool_.empty()) {
      Page* p = page_pool_.back();
      page_pool_.pop_back();
      p->next = nullptr;
      p->used = 0;
      return p;
    }
    return new Page;  // not value-initialized: 16 KiB of zeros would be wasted work
  }
  void put_chain(OutChain& c) {
    for (Page* p = c.head; p != nullptr;) {
      Page* n = p->next;
      if (page_pool_.size() < page_pool_cap_) page_pool_.push_back(p); else delete p;
      p = n;
    }
    c = OutChain{};
  }

  bool batch_mode() const { return core_.options.durability == Durability::batch; }

  EngineCore& core_;
  std::vector<Item> items_;
  struct SlotCursor {
    ProducerSlot* slot;
    std::int64_t last_ns;  // push time of the last record taken from it
    bool empty;            // came up empty in this round
  };
  std::vector<SlotCursor> slots_;  // the engine's slots, as of slots_version_
  std::uint64_t slots_version_ = ~std::uint64_t{0};
  std::vector<char> line_;
  IsoMsCache iso_;            // createdAt up to the second, of the last chunk encoded
  std::vector<char> joined_;  // carry + chunk, when a character was split across pushes
  std::vector<Page*> page_pool_;
  std::size_t page_pool_cap_;  // enough pages for a full batch: no churn in steady state
  std::vector<struct iovec> iov_;

  // the current batch (encoded, not yet written)
  std::vector<StreamState*> dirty_;
  std::vector<std::int64_t> batch_push_ns_;
  std::uint64_t batch_release_ = 0;
  std::size_t batch_bytes_ = 0;
  std::uint64_t batch_records_ = 0;
  std::int64_t batch_started_ns_ = 0;
  bool batch_open_ = false;
  std::int64_t last_wave_ns_ = 0;  // how long the last log wave took to sync
  std::int64_t last_write_ns_ = 0; // how long the last batch took to write
  bool behind_ = false;            // the last round left records in the queues
  WaveJournal* journal_ = nullptr;  // run files' group commit (Options::journal, batch mode)
  bool journal_failed_ = false;     // then journal_error_ fails every journaled write
  Status journal_error_;

  // How old an open batch may grow before it is written (unless it is full,
  // or drained with no wave in flight). While the sequencer is behind (its
  // last round left records queued), at least as long as the last batch took
  // to write: a batch's write costs about one pwritev per file it touches
  // whatever its size, so with 256 runs a 1 ms batch spent 70 % of the
  // sequencer in writes of ~5 KiB; waiting as long as the write took keeps
  // writes under half its time, and where writes dominate, batches grow to
  // maxBatchBytes (W3 `none` 0.84-1.06 -> 0.89-1.27 M rec/s). While it keeps
  // up, writing sooner costs no throughput and saves latency.
  // While a wave syncs, its records cannot be acknowledged before that wave
  // ends, so writing them early only buys overlap; a batch waits for half the
  // last wave's time, which halves the writes per file where waves are long
  // and keeps the overlap.
  std::int64_t batch_due_ns(std::int64_t delay_ns) const {
    const std::int64_t due = behind_ ? std::max(delay_ns, last_write_ns_) : delay_ns;
    return in_flight_ == nullptr ? due : std::max(due, last_wave_ns_ / 2);
  }

  std::array<std::unique_ptr<Wave>, 2> waves_;
  Wave* next_wave_;             // accumulating
  Wave* in_flight_ = nullptr;   // being synced
  std::unique_ptr<Wave> state_wave_;  // state.json replacements, on the state pool
  bool state_in_flight_ = false;
  std::vector<StreamState*> state_pending_;  // streams whose state.json waits for durability
  std::vector<Control*> pending_;            // controls waiting for durability
  bool shutdown_ = false;

  StreamState* lru_head_ = nullptr;  // least recently used
  StreamState* lru_tail_ = nullptr;
};

}  // namespace runlog::detail
