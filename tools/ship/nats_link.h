// tools/ship/nats_link.h — runlog's one connection to NATS JetStream: connect
// (named errors), make sure the stream exists with subjects runlog.>, ask for
// the last message of a subject, and publish asynchronously with a bounded
// window of outstanding acks that stops at the first failure (docs/ship.md).
//
//   auto link = ship::NatsLink::connect(options);      // Result<unique_ptr<NatsLink>>
//   RUNLOG_RETURN_IF_ERROR((*link)->ensure_stream());
//   std::uint64_t last = 0;
//   RUNLOG_RETURN_IF_ERROR((*link)->last_seq("runlog.run.t1.r1.stdout", &last));
//   (*link)->publish(subject, msg_id, seq, data);       // false: the line stopped
//   Status outcome = (*link)->drain();                  // every ack in, or the failure
//
// Threads: one thread calls everything (last_seq() may be called from several
// at once); the client library's own threads run
// the ack handler and the connection callbacks, which touch only the window
// (a mutex and a condition variable) and atomics.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runlog/status.h"

namespace runlog::ship {

struct LinkOptions {
  std::vector<std::string> urls;  ///< nats://[user:pass@]host:port, one or more servers of the cluster
  std::string stream = "RUNLOG";
  int replicas = 3;
  /// Outstanding publishes at most (acks not yet in).
  int window = 2048;
  /// How long a publish may wait for its ack before it counts as failed.
  std::int64_t ack_wait_ms = 5000;
  /// When the oldest outstanding publish is this old, no new one is sent
  /// until it is settled: a lost message is never followed by a stored one
  /// of the same subject sent after the loss (a stream leader takes longer
  /// than this to be replaced).
  std::int64_t stall_ms = 400;
  /// The stream's duplicate window when the stream is created.
  std::int64_t duplicate_window_ms = 120000;
  /// How long JetStream may take to answer at start (a cluster electing).
  std::int64_t ready_wait_ms = 20000;
};

/// What a stopped line found, for the caller's resync and messages.
enum class LinkFailure : std::uint8_t {
  none,
  disconnected,  ///< the connection dropped (publishes in flight may be lost)
  timeout,       ///< an ack did not come in time
  stream_full,   ///< the stream refused a message for its limits
  refused,       ///< another error from JetStream (text in the status)
};

class NatsLink {
 public:
  /// Connects to the first reachable URL. Errors (for exit 1), io_error
  /// "server down: no NATS server reachable at …", refused "bad credentials:
  /// …", invalid_argument for a URL it cannot parse.
  static Result<std::unique_ptr<NatsLink>> connect(const LinkOptions& options);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  /// Creates the stream when it is missing (subjects runlog.>, the replicas,
  /// file storage, the duplicate window). Errors: refused "stream X has other
  /// subjects: […], not runlog.>", io_error "JetStream unavailable: …" when
  /// it does not answer within ready_wait_ms.
  Status ensure_stream();

  /// The Runlog-Seq of the last message on `subject` in the stream (0: none;
  /// *present says whether there is one). Retries while JetStream is
  /// electing, up to ready_wait_ms. Any thread: it is one request on the
  /// connection (which the client library shares between threads).
  Status last_seq(const std::string& subject, std::uint64_t* seq, bool* present = nullptr);

  /// Publishes one record: waits while the window is full. Returns false,
  /// without sending, once the line has stopped (a failure since the last
  /// drain()): the caller drains and resyncs from the stream.
  bool publish(const std::string& subject, std::string_view msg_id, std::uint64_t seq, std::string_view data);

  /// Waits until every outstanding publish is settled (acked, failed or timed
  /// out), then reopens the line. OK when nothing failed since the last drain;
  /// otherwise the first failure (failure() says which kind).
  Status drain();
  LinkFailure failure() const noexcept { return last_failure_; }
  /// A message of a subject was stored after an earlier one of the same
  /// subject failed (found at drain()): the stream holds a hole there.
  bool out_of_order() const noexcept { return out_of_order_; }
  /// After a failed drain(), before resuming from each subject's last
  /// message: whether a record that failed (or whose ack never came) is
  /// missing while a later record of its subject, or its run's end marker,
  /// is stored: resuming would skip it for ever. A failed record can have
  /// been stored after all (its ack lost, as when a stream leader dies with
  /// acks in flight): the stream is read back from the subject's last
  /// message (at most about two windows of messages, one request each).
  /// `holes` gets "subject seq N" for each hole: empty, none.
  Status find_holes(std::vector<std::string>* holes);

  std::uint64_t acked() const noexcept;  ///< messages acknowledged (new or duplicate) so far
  std::uint64_t duplicates() const noexcept;  ///< of which the server said were duplicates
  const LinkOptions& options() const noexcept { return options_; }
  /// The underlying handles, for the replay side.
  natsConnection* connection() const noexcept { return nc_; }
  jsCtx* js() const noexcept { return js_; }

  struct Shared;

 private:
  explicit NatsLink(const LinkOptions& options);
  LinkOptions options_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::unique_ptr<Shared> shared_;
  LinkFailure last_failure_ = LinkFailure::none;
  bool out_of_order_ = false;
  std::vector<std::pair<std::string, std::uint64_t>> failed_;  // of the last drain()
  /// The last message on `subject` (*msg null: none), retried while JetStream elects.
  Status get_last(const std::string& subject, natsMsg** msg);
};

/// "nats: <text> (<status>)" for an error of the client library.
std::string nats_error(int status, std::string_view what);

}  // namespace runlog::ship
