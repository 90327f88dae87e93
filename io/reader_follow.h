// io/reader_follow.h — waiting for a run folder to change, for `replay --follow`.
//
// RunWatcher watches one folder with inotify (a channel file appended, durable.seq
// rewritten or closed by its writer, state.json replaced) and falls back to
// polling when inotify is not available. Either way wait() also returns after
// its timeout, so a missed event costs at most one timeout.
//
//   RunWatcher w;
//   RUNLOG_RETURN_IF_ERROR(w.open("runs/t1/r1"));
//   bool interrupted = false;
//   RUNLOG_RETURN_IF_ERROR(w.wait(200, sigint_pipe_fd, &interrupted));
//
// Threads: one thread at a time per RunWatcher.
#pragma once

#include <string>

#include "runlog/status.h"

namespace runlog::io {

class RunWatcher {
 public:
  RunWatcher() = default;
  ~RunWatcher();
  RunWatcher(const RunWatcher&) = delete;
  RunWatcher& operator=(const RunWatcher&) = delete;

  /// Starts watching `dir`. Never fails for want of inotify (then wait() polls).
  Status open(const std::string& dir);
  /// Waits until something in the folder changes, timeout_ms passes, or
  /// interrupt_fd (when >= 0) becomes readable (*interrupted = true; the fd is
  /// not read). Errors: io_error from poll().
  Status wait(int timeout_ms, int interrupt_fd, bool* interrupted);
  /// Whether inotify is in use (false: polling).
  bool notifying() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace runlog::io
