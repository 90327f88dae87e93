// runlog/capture.h — run a worker process and record everything it says into a
// run: spawn it in a process group of its own (or on a pseudo-terminal), read
// its stdout and stderr without one blocking the other, push every read as one
// chunk, pass the bytes through, reap it and log how it ended.
//
// The library runlog_capture (capture/ in the source tree; installed with
// librunlog as <runlog/capture.h>). Used by `runlog exec` (one child), `runlog
// run` (many, one per thread), the Node binding and the tests, which call these
// functions directly.
//
// Descriptors: every descriptor this file opens is O_CLOEXEC; the child gets
// exactly 0, 1 and 2. Signals: the child starts with the default disposition
// and an empty mask whatever runlog blocked or ignored.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "runlog/engine.h"

namespace runlog {

/// What to start and how.
struct ChildSpec {
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH unless it holds a '/'
  std::string cwd;                ///< empty: runlog's own
  /// Variables set (or replaced) on top of runlog's environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// true: the child's stdout and stderr are one pseudo-terminal, which is its
  /// controlling terminal too (so colours and line buffering behave as in a
  /// terminal); all its output arrives as stdout. Its stdin is still the one
  /// below, not the terminal: a child that reads it gets the input and then
  /// end-of-file, never a wait on a terminal that nobody types into.
  bool pty = false;
  /// The child's stdin: true = runlog's own stdin, false = /dev/null.
  bool inherit_stdin = false;
};

/// How a capture went.
struct CaptureResult {
  pid_t pid = 0;          ///< 0 when the child never ran
  int exit_code = -1;     ///< when it exited
  int signal = 0;         ///< when a signal ended it
  std::string error;      ///< why it never ran ("no such command: foo"); exit_status() is then 126/127
  int spawn_status = 0;   ///< 127 (not found) or 126 (found, not runnable) when error is set
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;
  std::uint64_t stdout_chunks = 0, stderr_chunks = 0;
  double seconds = 0;     ///< from the spawn to the reap
  /// What a shell would report: the exit code, 128 + the signal, or 126/127.
  int exit_status() const;
};

/// Where the child's bytes go as they arrive. Called on the capturing thread,
/// once per read, in the order of the reads. A non-ok status stops the
/// recording (the capture goes on draining and reaping the child) and is
/// returned by capture() once the child has ended.
using ChunkSink = std::function<Status(Channel channel, std::string_view bytes)>;

/// Options of one capture.
struct CaptureOptions {
  ChildSpec child;
  /// Copies of the child's stdout / stderr go here as they arrive (-1: none).
  /// A write error (EPIPE) stops the copy, not the capture.
  int passthrough_stdout = -1;
  int passthrough_stderr = -1;
  /// Most bytes read at once (= the largest chunk). Default 256 KiB.
  std::size_t read_size = std::size_t{256} << 10;
  /// Called once the child runs, before its first byte is read (worker_started).
  std::function<Status(pid_t pid)> on_started;
};

/// Starts the child, pumps its output into `sink` until both of its outputs
/// are closed, then reaps it. Returns the result; a command that cannot be run
/// is a result with `error` set (not an error status). Errors: a pipe, pty or
/// fork that failed (io_error), or the first error the sink or on_started
/// returned (after the child has been reaped). Thread: any; the calling
/// thread does all the work (one capture per thread at a time).
Result<CaptureResult> capture(const CaptureOptions& options, const ChunkSink& sink);

/// The run's side of a capture: logs worker_started (pid, command, cwd),
/// pushes every chunk with `producer`, then worker_exited ({"exitCode":N} or
/// {"signal":"SIGTERM"}; the reason when the command could not be run) and
/// step_completed (exit 0) or step_failed. Does not close the run.
/// Errors: those of capture() and of the pushes (the child is still reaped).
/// Thread: the one that owns `producer`.
Result<CaptureResult> capture_into_run(const CaptureOptions& options, const Run& run, Producer& producer);

/// The command line as one string, each argument quoted for a POSIX shell when it needs it.
std::string shell_join(const std::vector<std::string>& argv);

/// "SIGTERM" for 15; "SIG<n>" when it has no name.
std::string signal_name(int signal);

/// Forwards SIGINT, SIGTERM and SIGHUP to the process group of every child
/// that capture() runs while it lives; a second SIGINT sends SIGKILL.
/// Create it on the main thread before any other thread starts (it blocks the
/// three signals in the calling thread, and threads inherit the mask); at most
/// one at a time. The destructor stops its thread and restores the mask.
class SignalForwarder {
 public:
  SignalForwarder();
  ~SignalForwarder();
  SignalForwarder(const SignalForwarder&) = delete;
  SignalForwarder& operator=(const SignalForwarder&) = delete;
  /// The first signal received (0: none yet). Thread: any.
  int received() const { return first_.load(std::memory_order_acquire); }

 private:
  void loop();
  std::atomic<bool> stop_{false};
  std::atomic<int> first_{0};
  std::thread thread_;
};

}  // namespace runlog
