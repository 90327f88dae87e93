// io/reader_follow.cpp — RunWatcher: inotify on the run folder, poll() fallback.
#include "io/reader_follow.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

namespace runlog::io {

RunWatcher::~RunWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

Status RunWatcher::open(const std::string& dir) {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Status::OK();  // polling
  const uint32_t mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF;
  if (::inotify_add_watch(fd, dir.c_str(), mask) < 0) {
    ::close(fd);
    return Status::OK();
  }
  fd_ = fd;
  return Status::OK();
}

Status RunWatcher::wait(int timeout_ms, int interrupt_fd, bool* interrupted) {
  *interrupted = false;
  struct pollfd fds[2];
  int n = 0;
  int watch_at = -1, intr_at = -1;
  if (fd_ >= 0) {
    fds[n] = {fd_, POLLIN, 0};
    watch_at = n++;
  }
  if (interrupt_fd >= 0) {
    fds[n] = {interrupt_fd, POLLIN, 0};
    intr_at = n++;
  }
  int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (r < 0) {
    if (errno == EINTR) return Status::OK();
    return Status::FromErrno(errno, "poll");
  }
  if (intr_at >= 0 && (fds[intr_at].revents & (POLLIN | POLLHUP | POLLERR))) *interrupted = true;
  if (watch_at >= 0 && (fds[watch_at].revents & POLLIN)) {
    alignas(struct inotify_event) char buf[8192];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
  }
  return Status::OK();
}

}  // namespace runlog::io
