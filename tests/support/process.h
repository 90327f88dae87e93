// tests/support/process.h — helper verbs for tests that run real processes or
// must not hang: run a binary and capture its output, run a function in a
// forked child, run a function under a deadline.
//
// Threads: RunInChild() forks; call it while the test process runs no other
// threads of its own (no live Engine), as fork() copies only the caller.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace runlog::testing {

struct ProcessResult {
  bool started = false;    ///< the process could be started
  bool timed_out = false;  ///< killed (SIGKILL) after the timeout
  int exit_code = -1;      ///< when it exited normally
  int signal = 0;          ///< when a signal ended it
  std::string out, err;    ///< what it wrote to stdout / stderr (RunProcess only)
  /// "exit 2", "signal 9", "timed out": for messages.
  std::string describe() const;
};

/// Runs argv[0] (a path) with argv, stdin from /dev/null, capturing stdout and
/// stderr; kills it (SIGKILL) after `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

#ifdef RUNLOG_CLI_PATH
/// Runs the built `runlog` binary with `args` (timeout 120 s).
inline ProcessResult RunCli(std::vector<std::string> args) {
  args.insert(args.begin(), RUNLOG_CLI_PATH);
  return RunProcess(args, std::chrono::seconds(120));
}
#endif

/// Forks; the child runs fn() and _exit()s with its value (an exception or a
/// crash shows as exit code 255 or a signal). The parent waits at most
/// `timeout`, then kills the child. Use for calls that might hang forever.
ProcessResult RunInChild(const std::function<int()>& fn, std::chrono::milliseconds timeout);

/// Runs fn() on a thread and waits at most `timeout` for it. On time, returns
/// true. Past it, the call is presumed deadlocked: a message naming `what` is
/// printed and the process aborts (a hung test would otherwise never report).
bool FinishesWithin(std::chrono::milliseconds timeout, const std::string& what, const std::function<void()>& fn);

}  // namespace runlog::testing
