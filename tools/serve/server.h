// tools/serve/server.h — `runlog serve`: runs and conversations over HTTP, live
// entries over Server-Sent Events, and the web viewer (docs/serve.md).
//
//   runlog::tools::ServeOptions o;
//   o.runs_root = "runs";
//   runlog::tools::LogServer server(o);
//   RUNLOG_RETURN_IF_ERROR(server.bind());   // 127.0.0.1:8080 by default
//   std::thread t([&] { server.run(); });     // serves until stop()
//   ...
//   server.stop();                            // ends every stream cleanly
//   t.join();
//
// Everything served is read through io::LogReader, so
// only durable records ever leave the server, and the bytes are those of the
// CLI (tools/views.h). Each live run that has SSE clients is followed by one
// thread (a hub) that reads each new record once, encodes it once, and writes
// the same bytes to every client's socket without waiting (non-blocking sends,
// epoll), each client with its own bounded queue; a client whose queue
// overflows is closed (it resumes with Last-Event-ID), so a slow client slows
// nobody else.
//
// Threads: the constructor, bind(), port() and run() on one thread; stop()
// from any thread (once run() has been called or not). The server's own
// threads: cpp-httplib's pool (one thread per connection; a run's SSE stream
// holds it only while it catches up from the files, then hands its socket to
// the run's hub; a conversation's stream holds it for its lifetime) and one
// hub thread per followed run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runlog/status.h"

namespace runlog::tools {

struct ServeOptions {
  std::string runs_root;
  std::string conversations_root;  ///< empty: no conversations
  std::string host = "127.0.0.1";
  int port = 8080;                 ///< 0: any free port (see port())
  std::string token;               ///< non-empty: every request needs "Authorization: Bearer <token>"
  std::string cors_origin;         ///< non-empty: Access-Control-Allow-Origin for it
  std::size_t max_streams = 1024;  ///< concurrent SSE streams; more get 503
  std::size_t client_buffer = std::size_t{8} << 20;  ///< bytes queued per SSE client before it is closed
  int keepalive_seconds = 15;      ///< an SSE comment after this much silence
};

/// Whether `host` names the loopback interface (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

class LogServer {
 public:
  explicit LogServer(ServeOptions options);
  ~LogServer();
  LogServer(const LogServer&) = delete;
  LogServer& operator=(const LogServer&) = delete;

  /// Binds the listening socket. Errors: invalid_argument (a non-loopback
  /// host without a token), io_error (the address is taken).
  Status bind();
  /// The bound port (after bind()).
  int port() const noexcept;
  /// Serves until stop(); returns once every connection thread has ended.
  Status run();
  /// Ends every SSE stream cleanly (the chunked body is closed; no `end`
  /// event, so clients reconnect) and stops accepting. Thread-safe.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace runlog::tools
