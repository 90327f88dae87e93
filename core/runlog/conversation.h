// runlog/conversation.h — conversation logs (contracts/wire.ts) on the same
// engine as runs: one gap-free seq per conversation, the same queues,
// sequencer, group commit, recovery and fail-stop.
//
//   runlog::Conversation conv = engine->open_conversation("c1").value();  // creates or recovers, then reconciles
//   runlog::Producer producer(*engine);                                   // one per thread
//   auto t = producer.push_chunk(conv, runlog::Role::assistant, R"({"type":"text","text":"hi"})").value();
//   t.wait();                                                             // durable now
//   conv.close();
//
// On disk: <conversationsRoot>/<conversationId>/chunks.jsonl, one StoredChunk
// line per chunk ({"seq":N,"role":…,"chunk":{…},"crc":"…"}), and durable.seq
// (the durable watermark, under the writer's lock, exactly as for runs). See
// docs/conversations.md.
//
// Threads. Everything here may be called from any thread (a Conversation is a
// cheap handle), except that one Subscription is read by one thread at a time.
// Nothing here may be called from inside the engine's own threads. The
// sequencer never calls into a subscription: events are handed over by the
// thread that pushes (or that calls begin_turn/emit/end_turn), into a bounded
// buffer that never waits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runlog/status.h"

namespace runlog {

namespace detail {
struct EngineCore;
struct StreamState;
struct Subscriber;
}  // namespace detail

/// Role: who produced a message.
enum class Role : std::uint8_t { system, user, assistant, tool };
/// "system", "user", "assistant", "tool".
std::string_view role_name(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

/// One thing a Subscription hands out.
struct SubscriptionItem {
  enum class Kind : std::uint8_t {
    event,   ///< `json` is one AgentEvent, compact, keys in the contract's order
    resync,  ///< the buffer overflowed: events were dropped; read the log's chunks after `seq`
  };
  Kind kind = Kind::event;
  std::string json;
  /// event: the seq of the chunk it reports (0 for events that are not chunks:
  /// turn-start, usage, tool-output, done, turn-sealed, status).
  /// resync: every chunk up to this seq was reported before the overflow.
  std::uint64_t seq = 0;
};

/// An in-process AgentEvent subscription to one conversation. Create with
/// Conversation::subscribe(); the subscription ends when the last shared_ptr
/// is dropped.
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  /// The next item, waiting up to `timeout` (0: do not wait); nullopt when
  /// there is none. After an overflow, the next item is one `resync` (the
  /// events dropped are not replayed: read the chunks after its seq from the
  /// log), then new events as they come. Thread: one at a time.
  std::optional<SubscriptionItem> next(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Items waiting now.
  std::size_t pending() const;

 private:
  friend class Conversation;
  explicit Subscription(std::shared_ptr<detail::Subscriber> s) : sub_(std::move(s)) {}
  std::shared_ptr<detail::Subscriber> sub_;
};

/// What reconcile() did.
struct ReconcileResult {
  std::uint64_t appended = 0;  ///< tool-results synthesized
  std::uint64_t lastSeq = 0;   ///< the conversation's last seq afterwards (durable)
};

/// A handle to one open conversation: cheap to copy, valid while the engine
/// lives. Thread: any, for every method.
class Conversation {
 public:
  Conversation() = default;
  const std::string& id() const;
  /// Highest seq written / acknowledged so far.
  std::uint64_t appended_seq() const;
  std::uint64_t durable_seq() const;
  /// ok, or the error that fail-stopped this conversation.
  Status health() const;
  /// Chunks on disk (as of the last batch written).
  std::uint64_t chunk_count() const;
  /// What recovery cut when the conversation was reopened.
  std::vector<std::string> repairs() const;
  /// The folder holding chunks.jsonl ("<conversationsRoot>/<id>").
  std::string dir() const;

  /// The contract's promise: every tool-call gets exactly one tool-result.
  /// Appends, for every tool-call whose toolCallId has no tool-result yet, a
  /// tool-result with role tool, the call's toolName, isError true and content
  /// saying it was interrupted; returns once they are durable. Idempotent:
  /// a second call (or one after a reopen or a crash) appends nothing more.
  /// Meant for when no turn is running (a tool that is still running would be
  /// answered as interrupted, and its own result then refused).
  Result<ReconcileResult> reconcile() const;

  /// Barrier: every chunk whose push returned before the call is durable.
  Status flush() const;
  /// Makes everything durable and closes the files. Later pushes get closed.
  /// Idempotent.
  Status close() const;

  /// Agent events. A turn opened with begin_turn() gets every chunk pushed
  /// to this conversation reported as the contract's event (text ->
  /// text-delta, thinking -> reasoning-delta, tool-call, tool-result, error),
  /// in seq order, as it is appended (not waiting for durability); chunks
  /// pushed while no turn is open are not reported. begin_turn emits
  /// turn-start; emit() hands over an event that is not a chunk (usage,
  /// tool-output, status: a JSON object of the contract's shape, validated,
  /// conversationId and turnId filled in); end_turn() emits done, waits until
  /// every chunk pushed so far is durable, then emits turn-sealed and closes
  /// the turn. invalid_argument for a turn id that is empty or not the open
  /// turn's, or a turn already open.
  Status begin_turn(std::string_view turn_id) const;
  Status emit(std::string_view event_json) const;
  Status end_turn(std::string_view turn_id, std::string_view reason = "stop") const;

  /// A subscription holding at most `capacity` items (>= 2). A subscriber that
  /// falls behind loses events, never slows anything: when its buffer is full
  /// it is told to resync from the last seq it was told of.
  Result<std::shared_ptr<Subscription>> subscribe(std::size_t capacity = 1024) const;

  explicit operator bool() const { return stream_ != nullptr; }

 private:
  friend class Engine;
  friend class Producer;
  Conversation(detail::EngineCore* e, detail::StreamState* s) : engine_(e), stream_(s) {}
  detail::EngineCore* engine_ = nullptr;
  detail::StreamState* stream_ = nullptr;
};

}  // namespace runlog
