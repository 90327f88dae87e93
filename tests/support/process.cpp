// tests/support/process.cpp — see process.h.
#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

extern char** environ;

namespace runlog::testing {
namespace {

using Clock = std::chrono::steady_clock;

void Decode(int status, ProcessResult* r) {
  if (WIFEXITED(status)) r->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r->signal = WTERMSIG(status);
}

// Waits for `pid` until `deadline`; kills it past the deadline.
void Reap(pid_t pid, Clock::time_point deadline, ProcessResult* r) {
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return Decode(status, r);
    if (got < 0 && errno != EINTR) return;
    if (Clock::now() >= deadline) {
      r->timed_out = true;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return Decode(status, r);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::string ProcessResult::describe() const {
  if (!started) return "not started";
  if (timed_out) return "timed out";
  if (signal != 0) return "signal " + std::to_string(signal);
  return "exit " + std::to_string(exit_code);
}

ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  ProcessResult r;
  const auto deadline = Clock::now() + timeout;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return r;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    r.err = "posix_spawn failed: " + std::to_string(rc);
    return r;
  }
  r.started = true;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[1 << 16];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  Reap(pid, deadline, &r);
  return r;
}

ProcessResult RunInChild(const std::function<int()>& fn, std::chrono::milliseconds timeout) {
  ProcessResult r;
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return r;
  if (pid == 0) {
    int code = 255;
    try {
      code = fn();
    } catch (...) {
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  r.started = true;
  Reap(pid, Clock::now() + timeout, &r);
  return r;
}

bool FinishesWithin(std::chrono::milliseconds timeout, const std::string& what, const std::function<void()>& fn) {
  auto task = std::make_shared<std::packaged_task<void()>>(fn);
  std::future<void> done = task->get_future();
  std::thread runner([task] { (*task)(); });
  if (done.wait_for(timeout) != std::future_status::ready) {
    std::fprintf(stderr, "\nFATAL: %s did not finish within %lld ms: presumed deadlocked; aborting\n", what.c_str(),
                 static_cast<long long>(timeout.count()));
    std::fflush(stderr);
    std::abort();
  }
  runner.join();
  done.get();
  return true;
}

}  // namespace runlog::testing
