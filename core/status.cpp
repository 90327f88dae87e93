#include "runlog/status.h"

#include <cstring>

namespace runlog {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::io_error: return "io_error";
    case Errc::corruption: return "corruption";
    case Errc::refused: return "refused";
    case Errc::would_block: return "would_block";
    case Errc::closed: return "closed";
    case Errc::failed_stream: return "failed_stream";
    case Errc::not_found: return "not_found";
  }
  return "unknown";
}

Status::Status(Errc code, int sys_errno, std::string message) {
  if (code != Errc::ok) rep_ = std::make_shared<const Rep>(Rep{code, sys_errno, std::move(message)});
}

Status Status::FromErrno(int sys_errno, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(sys_errno);
  Errc code = Errc::io_error;
  if (sys_errno == ENOENT) code = Errc::not_found;
  if (sys_errno == ELOOP) code = Errc::refused;
  return Status(code, sys_errno, std::move(msg));
}

const std::string& Status::message() const noexcept {
  static const std::string empty;
  return rep_ ? rep_->message : empty;
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(errc_name(rep_->code)) + ": " + rep_->message;
}

}  // namespace runlog
