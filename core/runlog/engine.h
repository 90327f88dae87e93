// runlog/engine.h — the engine: open runs, push records from any thread, learn
// when they are durable.
//
//   runlog::Options opts;
//   opts.runsRoot = "runs";
//   auto engine = runlog::Engine::open(opts).value();       // starts its threads
//   runlog::RunMetadata meta;  meta.taskId = "t1";  meta.runId = "r1";
//   runlog::Run run = engine->open_run(meta).value();        // creates or recovers
//   runlog::Producer producer(*engine);                       // one per thread
//   producer.push_event(run, {runlog::EventType::worker_started, runlog::LogLevel::info, "started", ""});
//   auto ticket = producer.push_stdout(run, "hello\n").value();
//   uint64_t seq = ticket.wait().value();                     // durable now
//   run.close();                                              // state final, files closed
//
// Threads. The engine owns one sequencer thread (it alone assigns seqs, encodes
// and writes) and a pool of sync threads (they only fdatasync and replace
// state.json). Everything in this header may be called from any thread, except
// that one Producer is used by one thread at a time. Nothing here may be called
// from inside the engine's own threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runlog/conversation.h"
#include "runlog/options.h"
#include "runlog/status.h"
#include "runlog/types.h"

namespace runlog {

namespace detail {
struct EngineCore;
struct StreamState;
struct ProducerSlot;
}  // namespace detail

class Engine;

/// Engine-wide counters, read without stopping anything (each is a snapshot
/// of an atomic; they need not be mutually consistent to the last record).
struct EngineStats {
  std::uint64_t records = 0;         ///< records written
  std::uint64_t bytes = 0;           ///< encoded bytes written (line bytes, '\n' included)
  std::uint64_t batches = 0;         ///< batches written
  std::uint64_t fsyncs = 0;          ///< fdatasync calls on log files, and syncfs calls standing for them
  std::uint64_t syncWaves = 0;       ///< group commits (one concurrent sync wave each)
  std::uint64_t queueDepth = 0;      ///< items waiting for the sequencer (approximate)
  std::uint64_t bytesInFlight = 0;   ///< accepted, not yet acknowledged
  std::uint64_t blockedPushes = 0;   ///< pushes that waited for budget
  std::uint64_t wouldBlockPushes = 0;///< pushes refused with would_block
  std::uint64_t failedStreams = 0;   ///< streams fail-stopped by an I/O error
  std::uint64_t openRuns = 0;       ///< open runs and conversations
  double recordsPerBatch = 0;
  /// Durable-ack latency, push to acknowledgement, in microseconds.
  double ackP50Us = 0, ackP99Us = 0, ackP999Us = 0, ackMaxUs = 0;
};

/// What a push returns: the record's seq (known at once) and a way to wait
/// until it is acknowledged. Trivially copyable, free to drop; valid while the
/// engine lives.
class Ticket {
 public:
  Ticket() = default;
  /// The seq the record has: a run's records are sequenced in the order their
  /// pushes took their tickets (one atomic increment per push).
  std::uint64_t seq() const { return seq_; }
  /// Waits until the record is acknowledged (durable under Durability::batch,
  /// written under none) and returns its seq, or says it never will be:
  /// the error that fail-stopped the run (io_error with the OS error and
  /// path), or closed when the push raced Run::close() and lost (its record
  /// was not written). Thread: any.
  Result<std::uint64_t> wait() const;

 private:
  friend class Producer;
  Ticket(detail::StreamState* s, std::uint64_t seq) : stream_(s), seq_(seq) {}
  detail::StreamState* stream_ = nullptr;
  std::uint64_t seq_ = 0;
};

/// A handle to one open run: cheap to copy, valid while the engine lives.
/// Thread: any, for every method.
class Run {
 public:
  Run() = default;
  const std::string& task_id() const;
  const std::string& run_id() const;
  /// Highest seq written / acknowledged so far.
  std::uint64_t appended_seq() const;
  std::uint64_t durable_seq() const;
  /// ok, or the error that fail-stopped this run.
  Status health() const;
  /// LocalRunLogSummary of the records written so far.
  LocalRunLogSummary summary() const;
  /// The state as of the last transition (status, exitCode, checkpointSeq...).
  RunStateSnapshot state() const;
  /// What recovery cut when this run was reopened (empty for a new or clean run).
  std::vector<std::string> repairs() const;

  /// Barrier: returns once every record whose push returned before the call
  /// (on any thread) is acknowledged; the run's error otherwise.
  Status flush() const;
  /// Applies the patch, then replaces state.json atomically; returns once it is durable.
  Status patch_state(const RunStatePatch& patch) const;
  /// Reserves the next checkpoint slot: creates checkpoints/<n>/, bumps
  /// checkpointSeq and logs checkpoint_slot_reserved. Returns n once durable.
  Result<std::uint64_t> reserve_checkpoint() const;
  /// Closes the run: flushes a pending incomplete UTF-8 tail (as U+FFFD),
  /// acknowledges everything (durable under Durability::batch; under none
  /// written but not fdatasync-ed, so a power loss may still take it), writes
  /// the final state.json, closes the files.
  /// Later pushes get Errc::closed. Idempotent.
  Status close() const;

  explicit operator bool() const { return stream_ != nullptr; }

 private:
  friend class Engine;
  friend class Producer;
  friend class Conversation;  // flush and close are the same as a run's
  Run(detail::EngineCore* e, detail::StreamState* s) : engine_(e), stream_(s) {}
  detail::EngineCore* engine_ = nullptr;
  detail::StreamState* stream_ = nullptr;
};

/// A producer: the pushing end for one thread. Holds a lock-free queue token
/// and a memory arena. Not thread-safe: one thread at a time (it may move
/// between threads). Must be destroyed before the engine.
class Producer {
 public:
  explicit Producer(Engine& engine);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Pushes a chunk of a worker's stdout/stderr: any bytes. Copied once; never
  /// blocks on I/O; waits only for budget (OverBudget::block). A push that
  /// returns before another push starts (on any thread, e.g. after a join)
  /// gets the lower seq. An incomplete UTF-8 character at the end is held back
  /// and joined with this producer's next chunk on the same channel.
  /// A push over Options::recordLimit becomes several consecutive records,
  /// split at character boundaries; the Ticket is the last one's.
  /// Errors: closed, failed_stream; would_block (nothing of the push was
  /// accepted); invalid_argument for a push larger than the whole budget under
  /// would_block. `created_ms` (Unix ms) is the record's createdAt; 0 = now.
  Result<Ticket> push_stdout(const Run& run, std::string_view bytes, std::int64_t created_ms = 0);
  Result<Ticket> push_stderr(const Run& run, std::string_view bytes, std::int64_t created_ms = 0);
  /// push_stdout / push_stderr of bytes that `fill` writes straight into the
  /// engine's memory, for a thread that reads a pipe or a socket: a large read
  /// is handed to the sequencer where it was read, without a copy.
  /// `fill(char* buf, std::size_t room) -> std::ptrdiff_t` is called once, on
  /// this thread, after the budget admitted `room` bytes (room <= max, and at
  /// most 256 KiB: what is left of the block this producer reads into; under
  /// OverBudget::would_block, at most what the budget takes now, refused only
  /// when it takes nothing), and returns how many bytes it wrote at buf
  /// (<= room; it must not throw). A return <= 0 pushes nothing and gives the
  /// budget back: it is the caller's end of input or error, returned in
  /// *filled (fill keeps errno itself if it needs it), with an empty Ticket.
  /// Errors as for push_stdout (fill is not called, *filled = 0). The
  /// producer keeps its read block (256 KiB, outside the budget) until it is
  /// destroyed. REQUIRES: channel is stdout_ or stderr_; max > 0.
  template <class Fill>
  Result<Ticket> push_filled(const Run& run, Channel channel, std::size_t max, Fill&& fill, std::ptrdiff_t* filled) {
    using F = std::remove_reference_t<Fill>;
    return push_filled_impl(
        run, channel, max,
        [](void* f, char* buf, std::size_t room) -> std::ptrdiff_t { return (*static_cast<F*>(f))(buf, room); },
        const_cast<void*>(static_cast<const void*>(&fill)), filled);
  }
  /// Pushes a lifecycle event. Its dataJson must be a JSON object (or empty):
  /// invalid_argument otherwise, and nothing is pushed.
  Result<Ticket> push_event(const Run& run, const LifecycleEvent& event, std::int64_t created_ms = 0);
  /// Pushes one chunk of a conversation (runlog/conversation.h): `chunk_json`
  /// is one of the contract's six Chunk variants as a JSON object. It is
  /// checked against the contract (type known, every required field present
  /// with its type, no other key; a tool-result must answer an open tool-call
  /// and a tool-call id must not be open already) and written compact, keys in
  /// the contract's order: invalid_argument naming what is wrong otherwise,
  /// and nothing is pushed. Errors as for push_stdout. A chunk larger than the
  /// whole in-flight budget is refused (conversation chunks are not split).
  Result<Ticket> push_chunk(const Conversation& conversation, Role role, std::string_view chunk_json);

 private:
  Result<Ticket> push_chunk(const Run& run, Channel channel, std::string_view bytes, std::int64_t created_ms);
  using FillFn = std::ptrdiff_t (*)(void* fill, char* buf, std::size_t room);
  Result<Ticket> push_filled_impl(const Run& run, Channel channel, std::size_t max, FillFn fn, void* fill,
                                  std::ptrdiff_t* filled);
  detail::EngineCore* engine_;
  detail::ProducerSlot* slot_;
};

/// The engine. Create with open(); destroying it closes every open run
/// (everything pushed is acknowledged, as Run::close says) and joins its threads.
class Engine {
 public:
  /// Validates the options, opens (creating) the runs root, starts the sequencer
  /// and the sync pool.
  static Result<std::unique_ptr<Engine>> open(Options options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Opens <runsRoot>/<taskId>/<runId>: creates the local-run-v1 layout, or
  /// recovers an existing run (SPEC "Recovery"). The ids must match
  /// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; invalid_argument otherwise, and
  /// nothing is created. Opening a run that is already open returns the same
  /// handle. Defaults: stepId = runId, repoRoot = the current folder,
  /// worktreePath = repoRoot, createdAt = now. Thread: any; does file I/O on
  /// the calling thread.
  Result<Run> open_run(const RunMetadata& meta);

  /// Opens <conversationsRoot>/<id>: creates chunks.jsonl and durable.seq, or
  /// recovers an existing conversation (SPEC "Recovery", one file), then
  /// reconciles it (Conversation::reconcile). The id must match
  /// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. Opening one that is open returns the
  /// same handle. Thread: any; does file I/O on the calling thread.
  Result<Conversation> open_conversation(std::string_view id);

  /// Barrier: Run::flush() of every open run; the first error among them.
  Status flush();
  /// Closes every open run (as Run::close). Returns the first error.
  Status close_all();

  EngineStats stats() const;
  const Options& options() const;

 private:
  friend class Producer;
  explicit Engine(std::unique_ptr<detail::EngineCore> core);
  std::unique_ptr<detail::EngineCore> core_;
};

}  // namespace runlog
