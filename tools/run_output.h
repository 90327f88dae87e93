// tools/run_output.h — what a command over many runs prints: each run's bytes
// in run order on stdout, its reader's notes and its error on stderr, prefixed
// with the command's name; and the exit status that follows.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "io/reader.h"

namespace runlog::tools {

/// Writes every byte to fd (loops over short writes and EINTR).
inline Status write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write standard output");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::OK();
}

/// The sink of io::run_ordered for `runs` runs. Not movable: the sink refers to it.
class RunOutput {
 public:
  RunOutput(const char* command, std::size_t runs) : command_(command), notes(runs) {
    sink.write = [](std::string_view bytes) { return write_all(STDOUT_FILENO, bytes); };
    sink.done = [this](std::size_t i, const Status& st) {
      for (const std::string& n : notes[i]) fmt::print(stderr, "runlog {}: note: {}\n", command_, n);
      if (!st.ok()) {
        fmt::print(stderr, "runlog {}: {}\n", command_, st.to_string());
        status_ = 1;
      }
    };
  }
  RunOutput(const RunOutput&) = delete;
  RunOutput& operator=(const RunOutput&) = delete;

  /// The exit status once run_ordered returned `st`: 1 when it or any run failed.
  int finish(const Status& st) {
    if (!st.ok()) {
      fmt::print(stderr, "runlog {}: {}\n", command_, st.to_string());
      return 1;
    }
    return status_;
  }

 private:
  const char* command_;
  int status_ = 0;

 public:
  std::vector<std::vector<std::string>> notes;  ///< per run: its reader's notes
  io::OrderedSink sink;
};

}  // namespace runlog::tools
