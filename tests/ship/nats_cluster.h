// tests/ship/nats_cluster.h — a real JetStream cluster of Debian's nats-server
// for tests: N nodes on free 127.0.0.1 ports, data under a temp folder, routes
// on loopback; nodes can be SIGKILLed and restarted on the same data. Also a
// child-process handle for the `runlog` CLI and a reader of a subject's
// messages.
//
// Threads: one test thread drives a NatsCluster; servers die with the test
// process (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace runlog::testing {

/// The nats-server binary ("" when not installed).
std::string FindNatsServer();

class NatsCluster {
 public:
  NatsCluster() = default;
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  /// Starts `nodes` servers (JetStream, one cluster when nodes > 1) under
  /// `dir`, with an optional `extra` config block (e.g. authorization), and
  /// waits until JetStream answers. false with *error on failure.
  bool Start(const std::string& dir, int nodes, std::string* error, const std::string& extra = "",
             const std::string& user = "", const std::string& pass = "");
  /// "nats://127.0.0.1:P1,nats://127.0.0.1:P2,…"
  std::string Urls() const;
  std::string Url(int node) const;
  int Nodes() const { return static_cast<int>(ports_.size()); }
  void Kill(int node);
  bool Restart(int node, std::string* error);
  /// Waits until JetStream answers through `node` (meta leader elected).
  bool WaitReady(int node, std::chrono::milliseconds timeout, std::string* error);
  /// The server log of a node (for failure messages).
  std::string Log(int node) const;

 private:
  bool Spawn(int node, std::string* error);
  std::string dir_, extra_, user_, pass_;
  std::vector<int> ports_, cluster_ports_;
  std::vector<pid_t> pids_;
};

/// A `runlog` (or any) child process: stdout and stderr to `log`.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  /// Waits for the exit; the exit code, or 128 + signal, or -1 on timeout
  /// (then it is SIGKILLed).
  int Wait(std::chrono::milliseconds timeout);
  bool Running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// One stored message.
struct StoredMsg {
  std::string subject;
  std::uint64_t seq = 0;  ///< Runlog-Seq
  std::string msg_id;     ///< Nats-Msg-Id
  std::string data;
};

/// Every message of `stream` whose subject matches `filter`, in stream order
/// (an ordered consumer). false with *error when it cannot be read.
bool ReadStream(const std::string& url, const std::string& stream, const std::string& filter,
                std::vector<StoredMsg>* out, std::string* error);

/// Messages the stream holds (its state), or -1.
std::int64_t StreamMessages(const std::string& url, const std::string& stream);

}  // namespace runlog::testing
