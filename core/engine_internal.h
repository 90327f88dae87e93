// core/engine_internal.h — the engine's moving parts (see docs/design.md).
//
// Who touches what:
// - producer threads: their own ProducerSlot's producer fields and arena block;
//   the queue (enqueue with their token); the budget atomics.
// - the sequencer thread: everything marked "sequencer-only"; it alone assigns
//   seqs, encodes, writes, and publishes watermarks.
// - sync threads: only the tasks of the wave they were handed (Wave), through
//   RunStorage::sync / write_state.
// - any thread: the atomics marked "published".
#pragma once

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/histogram.h"
#include "core/storage.h"
#include "runlog/engine.h"

#if defined(__SANITIZE_THREAD__)
#define RUNLOG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RUNLOG_TSAN 1
#endif
#endif
#ifndef RUNLOG_TSAN
#define RUNLOG_TSAN 0
#endif

namespace runlog::detail {

struct StreamState;
struct ProducerSlot;
struct Wave;
class SyncPool;
class Sequencer;

// ---------------------------------------------------------------- arena ----

/// Producer memory: records are copied once into a block; the sequencer drops
/// one reference per record after encoding it; a block whose references reach
/// zero goes back to the pool. No allocation per record once the pool is warm.
inline constexpr std::size_t kBlockSize = 32 * 1024;
/// Pushes larger than this get a larger block: pooled by power-of-two size
/// class up to kLargeMax (a capture's reads are up to 256 KiB), freed above it.
inline constexpr std::size_t kSmallMax = 8 * 1024;
inline constexpr std::size_t kLargeMin = 16 * 1024;
inline constexpr std::size_t kLargeMax = 1024 * 1024;
inline constexpr int kLargeClasses = 7;  // 16 KiB .. 1 MiB
/// At most this many bytes of large blocks wait in the pool.
inline constexpr std::size_t kLargeKeepBytes = 8 * 1024 * 1024;
/// Producer::push_filled reads into blocks of this size (a large class), and
/// starts a new one when less than kFillMin bytes are left in its block.
inline constexpr std::size_t kFillBlock = 256 * 1024;
inline constexpr std::size_t kFillMin = 64 * 1024;
/// Reference count a block starts with while a producer still fills it.
inline constexpr std::int64_t kBlockOpen = std::int64_t{1} << 40;

struct Block {
  alignas(64) std::atomic<std::int64_t> refs{0};
  std::size_t cap = 0;
  bool pooled = true;
  std::int8_t large_class = -1;  ///< the large size class, -1 for a kBlockSize block
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

/// Thread-safe: any thread may call get/make_large/put/release (a mutex taken
/// once per 32 KiB block or large push, not per record).
class BlockPool {
 public:
  ~BlockPool();
  Block* get();                ///< a pooled kBlockSize block, refs = kBlockOpen
  Block* make_large(std::size_t cap);  ///< room for cap bytes, refs = 1 (pooled up to kLargeMax)
  void put(Block* b);          ///< when refs reached zero
  /// Drops `n` references; returns the block to the pool (or frees it) at zero.
  void release(Block* b, std::int64_t n) {
    if (b->refs.fetch_sub(n, std::memory_order_acq_rel) == n) put(b);
  }

 private:
  std::mutex mu_;
  std::vector<Block*> free_;
  std::vector<Block*> large_free_[kLargeClasses];  // guarded by mu_
  std::size_t large_bytes_ = 0;                     // guarded by mu_: bytes in large_free_
};

// ----------------------------------------------------------------- items ----

/// chunk: stdout/stderr bytes; event: a lifecycle event fragment; stored: a
/// conversation's StoredChunk fragment (`"role":…,"chunk":{…}`, built at push).
enum class Kind : std::uint8_t { chunk, event, stored };

/// Sent by Run methods and the sync pool. Lives on the sender's stack (or in
/// the Wave) until complete() is called; the sender waits with wait().
struct Control {
  enum class Op : std::uint8_t { close_run, patch_state, reserve_checkpoint, wave_done, shutdown };
  Op op = Op::shutdown;
  StreamState* stream = nullptr;
  RunStatePatch patch;
  Wave* wave = nullptr;
  std::uint64_t close_at = 0;        ///< close_run: taken once every ticket <= close_at is
  // sequencer-only while pending:
  std::uint64_t wait_seq = 0;        ///< done once stream->durable >= wait_seq
  std::uint64_t wait_state_gen = 0;  ///< ... and state.json of this generation is written
  // the answer:
  Status result;
  std::uint64_t value = 0;
  std::atomic<std::uint32_t> done{0};

  void complete(Status st) {
    result = std::move(st);
    done.store(1, std::memory_order_release);
    done.notify_all();
  }
  void wait() const {
    while (done.load(std::memory_order_acquire) == 0) done.wait(0, std::memory_order_acquire);
  }
};

/// One queue element: a record (a stdout/stderr chunk or a lifecycle event). 64 bytes.
struct Item {
  StreamState* stream = nullptr;
  std::uint64_t producer = 0;       ///< the pushing Producer's id (held-back characters are per producer)
  Block* block = nullptr;
  const char* data = nullptr;       ///< chunk bytes / [int64 exitCode][event fragment]
  std::uint64_t ticket = 0;         ///< the run's ticket: its record gets seq = base + ticket
  std::int64_t created_ms = 0;      ///< createdAt
  std::int64_t push_ns = 0;         ///< CLOCK_REALTIME at push (ns), for ack latency
  std::uint32_t len = 0;            ///< bytes at data (what the budget counts)
  Kind kind = Kind::chunk;
  std::uint8_t aux = 0;             ///< Channel for chunks, EventType for events
  bool final = false;               ///< a chunk whose incomplete tail is not held back
};

/// Records: one sub-queue per producer (its token); the sequencer takes small
/// bulks from each producer in turn, so no producer's records run far ahead.
using Queue = moodycamel::ConcurrentQueue<Item>;
/// Control messages (close, patch, checkpoint, wave done, shutdown): their own queue.
using ControlQueue = moodycamel::ConcurrentQueue<Control*>;

/// int64 stored before an event fragment when worker_exited has no exitCode.
inline constexpr std::int64_t kNoExitCode = INT64_MIN;

// ------------------------------------------------------------- producers ----

struct ProducerSlot {
  explicit ProducerSlot(Queue& q) : token(q) {}
  // producer-only (the thread that owns the Producer):
  moodycamel::ProducerToken token;
  Block* block = nullptr;
  std::size_t used = 0;
  std::int64_t placed = 0;
  // Producer::push_filled's arena: reads land one after another in a block of
  // kFillBlock bytes, each record referencing it, as small pushes share `block`.
  Block* fill_block = nullptr;
  std::size_t fill_used = 0;
  std::int64_t fill_placed = 0;
  std::uint64_t producer_id = 0;  ///< unique per Producer object (slots are reused)
};

// --------------------------------------------------------------- streams ----

/// Encoded lines waiting to be written: a chain of pages from the sequencer's pool.
inline constexpr std::size_t kPageSize = 16 * 1024;
struct Page {
  Page* next = nullptr;
  std::size_t used = 0;
  char data[kPageSize];
};
struct OutChain {
  Page* head = nullptr;
  Page* tail = nullptr;
  std::size_t bytes = 0;
  std::size_t pages = 0;
};

/// A subscriber's bounded buffer (runlog/conversation.h). Producers (and the
/// threads that call begin_turn/emit/end_turn) put items with offer(), which
/// never waits for the subscriber: mu is only held for O(1) work on both sides.
struct Subscriber {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<SubscriptionItem> items;  // at most capacity
  std::size_t capacity = 1024;
  bool overflow = false;        // items were dropped; a resync is owed
  std::uint64_t last_seq = 0;   // the highest chunk seq put before the overflow
  /// Any thread but the subscriber's: hands over an item, or drops it and owes a resync.
  void offer(SubscriptionItem&& item);
};

/// What a conversation adds to a stream. Guarded by mu (any thread); the
/// sequencer never touches it.
struct ConvState {
  std::mutex mu;
  /// tool-calls without a tool-result yet, in seq order: toolCallId, toolName.
  std::vector<std::pair<std::string, std::string>> open_calls;
  std::vector<std::weak_ptr<Subscriber>> subscribers;
  std::atomic<int> n_subscribers{0};  ///< pushes take mu only when there are some (or for tool chunks)
  std::string turn;                   ///< the open turn's id; empty: none
  std::string dir;                    ///< the folder, for Conversation::dir()
};

/// The part of a stream that only the sequencer thread reads or writes. The
/// opening thread sets it up with start() before the stream is published;
/// from then on only the Sequencer (a friend) can reach its members: the type
/// enforces that no producer, sync or reader thread touches them.
class SequencerOwned {
 public:
  /// The opening thread, before publish_stream: the stream as recovery left it.
  void start(std::uint64_t last_seq, const std::array<std::uint64_t, kRunChannels>& sizes,
             const std::array<std::uint64_t, kRunChannels>& records) {
    next_seq = last_seq + 1;
    size = sizes;
    written_back = sizes;
    encoded_count = records;
  }

 private:
  friend class Sequencer;
  std::uint64_t next_seq = 1;
  std::array<std::uint64_t, kRunChannels> size{};   ///< where the next write goes
  std::array<OutChain, kRunChannels> out{};         ///< encoded, not yet written
  std::array<std::uint64_t, kRunChannels> encoded_count{};
  std::array<bool, kRunChannels> unsynced{};        ///< written since listed in a wave
  std::array<std::uint64_t, kRunChannels> written_back{};  ///< journal mode: writeback started up to here
  std::uint64_t expected = 1;                        ///< the next ticket to sequence
  std::vector<Item> early;                           ///< tickets that arrived before `expected`, by t % size
  std::size_t early_count = 0;
  Control* close = nullptr;                          ///< a close waiting for its tickets
  /// Incomplete UTF-8 tails held back per producer, for stdout [0] and stderr [1].
  struct Carry {
    std::uint64_t producer;
    std::array<char, 4> bytes;
    std::uint8_t len;
  };
  std::array<std::vector<Carry>, 2> carries;
  bool closed_seq = false;                           ///< the sequencer took the close
  bool dirty_listed = false;                         ///< in the batch's dirty list
  std::uint64_t checkpoints = 0;                     ///< slots reserved (sequencer's count)
  bool target_listed = false;                        ///< in the accumulating wave's targets
  int tasks_in_flight = 0;                           ///< sync tasks of the wave in flight
  std::uint64_t state_gen = 0;          ///< bumped on each change that needs a state.json
  std::uint64_t state_needed_seq = 0;   ///< ... written once this seq is acknowledged
  std::uint64_t state_written_gen = 0;
  bool state_task_listed = false;
  int state_failures = 0;               ///< state.json writes that failed for want of descriptors, in a row
  std::int64_t state_retry_ns = 0;      ///< not retried before this (mono_ns)
  struct StreamState* lru_prev = nullptr;
  struct StreamState* lru_next = nullptr;
  bool lru_linked = false;
};

/// A run or a conversation. Three parts, by who may touch them: what is
/// constant after open; what other threads read (atomics, or guarded by a
/// mutex), each with its writer; and `own`, the sequencer's.
struct StreamState {
  // ---- constant after open (the opening thread writes them before publish_stream):
  struct EngineCore* engine = nullptr;
  bool conversation = false;          ///< a conversation: one channel (index 0, chunks.jsonl), no state.json
  std::unique_ptr<ConvState> conv;    ///< conversation only
  std::string key;  ///< "taskId/runId", or "conversation <id>"
  RunMetadata meta;
  std::vector<std::string> repairs;
  /// The files. append/write_durable/make_checkpoint/close/reopen: the
  /// sequencer; sync/write_state: a sync thread, for a task it was handed.
  std::unique_ptr<RunStorage> storage;
  std::uint64_t base = 0;  ///< last seq on disk when opened: ticket t becomes seq base + t

  // ---- read by any thread:
  /// Producers take tickets (and the sequencer, for a checkpoint's event).
  alignas(64) std::atomic<std::uint64_t> reserved{0};  ///< last ticket handed out
  /// Written by the sequencer only:
  alignas(64) std::atomic<std::uint64_t> appended{0};
  std::atomic<std::uint64_t> durable{0};  ///< the sequencer, at wave_done (or at write: durability none)
  /// Set by Run::close() (any user thread); pushes are refused.
  std::atomic<bool> closing{false};
  /// Set by the sequencer when it takes the close, before any later record is
  /// encoded: the last ticket (as a seq) that was written. A push that raced
  /// close() may hold a later ticket; its record is dropped and its wait()
  /// says closed.
  std::atomic<std::uint64_t> last_ticket_seq{UINT64_MAX};
  std::atomic<bool> closed{false};   ///< the sequencer: files closed, final state written
  std::atomic<bool> failed{false};   ///< the sequencer: fail-stopped; `error` is set before this
  Status error;                       ///< the sequencer, once, before failed=true; others read after failed
  /// The sequencer: records per channel on disk.
  std::array<std::atomic<std::uint64_t>, kRunChannels> written_count{};
  mutable std::mutex state_mu;        ///< guards `state` (the sequencer writes, readers copy)
  RunStateSnapshot state;

  // ---- the sequencer thread's:
  SequencerOwned own;
};

// ---------------------------------------------------------------- engine ----

struct EngineCore {
  EngineCore(Options opts, std::unique_ptr<Storage> storage);
  ~EngineCore();

  // constant after construction:
  Options options;
  std::unique_ptr<Storage> storage;

  Queue queue;
  ControlQueue controls;
  BlockPool blocks;

  // Waking the sequencer (an eventcount): it sets `sleeping`, looks at the
  // queues once more, then waits on `wake`; a sender enqueues, fences, and
  // signals only if it sees `sleeping`. No syscall per push while it is busy.
  alignas(64) std::atomic<int> sleeping{0};
  moodycamel::LightweightSemaphore wake;
#if RUNLOG_TSAN
  // ThreadSanitizer does not model standalone fences: the same handshake
  // through read-modify-writes on `sleeping`, which it does model.
  void nudge() {
    if (sleeping.fetch_add(0, std::memory_order_seq_cst) != 0) wake.signal();
  }
  void going_to_sleep() { sleeping.exchange(1, std::memory_order_seq_cst); }
#else
  /// Any thread, after an enqueue: a full fence, then a plain load.
  void nudge() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping.load(std::memory_order_relaxed) != 0) wake.signal();
  }
  /// Sequencer, before its last look at the queues.
  void going_to_sleep() {
    sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
#endif
  std::atomic<std::uint64_t> slots_version{0};  ///< bumped when a slot is added

  // budget (producers add, the sequencer releases):
  alignas(64) std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint32_t> budget_epoch{0};
  std::atomic<int> budget_waiters{0};
  // resolution (the sequencer bumps after acknowledging; waiters sleep on it):
  alignas(64) std::atomic<std::uint32_t> resolution_epoch{0};
  std::atomic<int> resolution_waiters{0};

  // counters (sequencer writes, any thread reads):
  std::atomic<std::uint64_t> n_records{0}, n_bytes{0}, n_batches{0}, n_fsyncs{0}, n_waves{0};
  std::atomic<std::uint64_t> n_blocked{0}, n_would_block{0}, n_failed_streams{0};
  Histogram ack_latency;
  std::atomic<std::int64_t> descriptors{0};

  // runs (guarded by runs_mu):
  std::mutex runs_mu;
  std::condition_variable runs_cv;
  std::unordered_map<std::string, StreamState*> open_runs;  ///< key -> open stream
  std::unordered_map<std::string, bool> opening;            ///< keys being opened
  std::vector<std::unique_ptr<StreamState>> all_streams;   ///< kept until the engine ends
  /// Claims `key` for the calling thread's open_run / open_conversation:
  /// waits while another thread opens the same key, then returns the stream
  /// when it is open already (nothing claimed), or nullptr once the key is
  /// claimed (the caller then publishes the stream or calls release_key).
  /// Thread: the opening one.
  StreamState* claim_key(const std::string& key);
  /// Gives up a claim after a failed open; waiters on the key wake.
  void release_key(const std::string& key);
  /// Publishes a stream that open_run / open_conversation has just opened
  /// (s->key set, recovered, counted in `descriptors`): it joins all_streams
  /// and open_runs, leaves `opening`, and waiters on the key wake. Thread: the
  /// opening one.
  StreamState* publish_stream(std::unique_ptr<StreamState> s);

  // producer slots (guarded by slots_mu):
  std::mutex slots_mu;
  std::vector<std::unique_ptr<ProducerSlot>> slots;
  std::vector<ProducerSlot*> free_slots;
  std::uint64_t next_producer_id = 0;

  std::unique_ptr<SyncPool> sync_pool;   ///< log files' syncs (the waves records wait for)
  std::unique_ptr<SyncPool> state_pool;  ///< state.json replacements, syncThreads / 2 threads
  std::thread sequencer;

  /// Any thread: sends a control and waits for its answer.
  void send_control(Control& c);
  /// Any thread: waits until the run has acknowledged the record of ticket
  /// `seq` (OK), or says it never will: closed (the push raced Run::close()
  /// and its ticket came after the close) or the run's error.
  Status wait_durable(StreamState& s, std::uint64_t seq);
  /// Producer threads: reserve budget for n bytes (may wait, or fail with would_block).
  Status admit(std::size_t n);
  /// Producer threads: admit(n) under OverBudget::block; under would_block, as
  /// much of n as the budget takes now (at least 1 byte, else would_block).
  /// Returns the bytes admitted.
  Result<std::size_t> admit_up_to(std::size_t n);
  /// Sequencer: return budget and wake waiting producers.
  void release_budget(std::uint64_t n);
  /// Sequencer: bump the resolution epoch and wake waiters.
  void publish_resolution();

  ProducerSlot* acquire_slot();
  void release_slot(ProducerSlot* slot);
};

/// Producer threads: pushes one conversation record (its fragment, already
/// checked) and returns its seq. Errors: closed, the stream's error,
/// would_block, invalid_argument (larger than the budget).
Result<std::uint64_t> push_stored(EngineCore& core, ProducerSlot& slot, StreamState& s, std::string_view fragment);

/// The sequencer thread's body (core/sequencer.cpp).
void run_sequencer(EngineCore& core);

/// Monotonic nanoseconds (batch deadlines).
std::int64_t mono_ns() noexcept;
/// CLOCK_REALTIME nanoseconds: one read per push gives both createdAt and the
/// stamp that ack latency is measured from.
std::int64_t wall_ns() noexcept;

}  // namespace runlog::detail
