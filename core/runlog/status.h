// runlog/status.h — errors as values.
//
// Every fallible runlog call returns a Status or a Result<T>. An error carries a
// small code (Errc), the OS errno when an OS call failed (0 otherwise), and a
// message that names the path and the operation, e.g.
//   "io_error: fdatasync runs/t1/r1/stdout.jsonl: Input/output error".
// Nothing is thrown by runlog's hot paths; a Status is one pointer, and an ok
// Status holds no allocation.
//
// Threads: Status and Result are plain values; copies may be handed between
// threads freely.
#pragma once

// Every public header includes this one: say plainly what they need.
#if __cplusplus < 202002L
#error "runlog's headers need C++20 or later: compile with -std=c++20"
#endif

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace runlog {

/// What went wrong, in one word. One line per value:
enum class Errc : std::uint8_t {
  ok = 0,            ///< no error
  invalid_argument,  ///< bad option, id, event or usage; nothing was written
  io_error,          ///< an OS call failed; sys_errno() says why, message() names the path
  corruption,        ///< damage with valid records after it, or a seq out of order; never rewritten
  refused,           ///< a symlink, FIFO, device, folder or hard-linked file where a stream file belongs
  would_block,       ///< the in-flight budget is full and the policy is would_block; nothing accepted
  closed,            ///< the run or the engine is closed
  failed_stream,     ///< the stream is fail-stopped after a failed write or sync
  not_found,         ///< the run, file or folder does not exist
};

/// The name of a code, e.g. "io_error". Never null.
const char* errc_name(Errc code) noexcept;

/// ok, or an error with code, errno and message.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  ///< ok
  Status(Errc code, int sys_errno, std::string message);

  static Status OK() noexcept { return Status(); }
  /// Shorthands. `what` names the operation and the path: "open runs/t1/r1/meta.json".
  static Status Invalid(std::string message) { return Status(Errc::invalid_argument, 0, std::move(message)); }
  static Status FromErrno(int sys_errno, std::string_view what);
  static Status Corruption(std::string message) { return Status(Errc::corruption, 0, std::move(message)); }
  static Status Refused(std::string message) { return Status(Errc::refused, 0, std::move(message)); }

  bool ok() const noexcept { return rep_ == nullptr; }
  explicit operator bool() const noexcept { return ok(); }
  Errc code() const noexcept { return rep_ ? rep_->code : Errc::ok; }
  int sys_errno() const noexcept { return rep_ ? rep_->sys_errno : 0; }
  /// The message without the code; empty when ok.
  const std::string& message() const noexcept;
  /// "ok", or "<code>: <message>".
  std::string to_string() const;

 private:
  struct Rep {
    Errc code;
    int sys_errno;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

/// A value or an error. Read it as simdjson's results are read:
///   uint64_t seq; if (auto st = r.get(seq); !st.ok()) ...
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  /// An error. An ok `status` carries no value: the Result then holds the
  /// error invalid_argument "a Result was made from an ok Status, without a
  /// value", so that ok() is false and value() is never reached.
  Result(Status status)  // NOLINT: implicit on purpose
      : status_(status.ok() ? Status::Invalid("a Result was made from an ok Status, without a value")
                            : std::move(status)) {}

  bool ok() const noexcept { return status_.ok(); }
  const Status& status() const noexcept { return status_; }
  /// REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  /// Moves the value into `out` when ok; returns the status either way.
  Status get(T& out) && {
    if (ok()) out = std::move(*value_);
    return status_;
  }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace runlog

/// Returns early from the enclosing function when `expr` (a Status) is an error.
#define RUNLOG_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::runlog::Status runlog_status_ = (expr);   \
    if (!runlog_status_.ok()) return runlog_status_; \
  } while (0)
