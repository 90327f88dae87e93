// capture/capture.cpp — see runlog/capture.h.
#include "runlog/capture.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "core/utf8.h"

extern char** environ;

namespace runlog {
namespace {

// ------------------------------------------------- the live process groups
// Every child that capture() runs is registered here between its fork and its
// reap, so that the SignalForwarder can reach its process group.
std::mutex g_groups_mu;
std::vector<pid_t> g_groups;        // guarded by g_groups_mu
int g_forwarded = 0;                // guarded: last signal forwarded (a late child gets it too)

void unregister_group(pid_t pgid) {
  std::lock_guard<std::mutex> lock(g_groups_mu);
  g_groups.erase(std::remove(g_groups.begin(), g_groups.end(), pgid), g_groups.end());
}

void signal_groups(int sig) {
  std::lock_guard<std::mutex> lock(g_groups_mu);
  g_forwarded = sig;
  for (pid_t g : g_groups) ::kill(-g, sig);
}

// ------------------------------------------------------------- descriptors
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status make_pipe(Fd* read_end, Fd* write_end) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  *read_end = Fd(p[0]);
  *write_end = Fd(p[1]);
  return Status::OK();
}

Status make_pty(Fd* master, Fd* slave) {
  int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return Status::FromErrno(errno, "posix_openpt");
  *master = Fd(m);
  if (::grantpt(m) != 0 || ::unlockpt(m) != 0) return Status::FromErrno(errno, "grantpt/unlockpt");
  char name[128];
  if (::ptsname_r(m, name, sizeof name) != 0) return Status::FromErrno(errno, "ptsname_r");
  int s = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) return Status::FromErrno(errno, std::string("open ") + name);
  *slave = Fd(s);
  // The window of runlog's own terminal, when it has one; else 80x24.
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
    ws.ws_col = 80;
    ws.ws_row = 24;
  }
  ::ioctl(s, TIOCSWINSZ, &ws);
  return Status::OK();
}

bool is_executable_file(const std::string& path, int* err) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    *err = errno;
    return false;
  }
  if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) {
    *err = EACCES;
    return false;
  }
  return true;
}

/// argv[0] resolved against PATH (as execvp would), or the errno why not.
std::string resolve_command(const std::string& cmd, const std::string& path_var, int* err) {
  *err = 0;
  if (cmd.find('/') != std::string::npos) return cmd;  // execve says what is wrong with it
  int worst = ENOENT;
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + cmd;
    int e = 0;
    if (is_executable_file(candidate, &e)) return candidate;
    if (e == EACCES) worst = EACCES;
    start = end + 1;
  }
  *err = worst;
  return {};
}

/// What the child reports on its close-on-exec pipe when it could not exec.
struct ExecFailure {
  int stage;  // 1 chdir, 2 execve, 3 terminal setup, 4 stdin
  int err;
};

int write_fully(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

// Runs in the forked child: only async-signal-safe calls from here on.
[[noreturn]] void child_main(const char* path, char* const* argv, char* const* envp, const char* cwd, int in_fd,
                             int out_fd, int err_fd, bool pty, int report_fd, int max_fd) {
  auto fail = [&](int stage) {
    ExecFailure f{stage, errno};
    (void)!::write(report_fd, &f, sizeof f);
    ::_exit(127);
  };
  if (pty) {
    if (::setsid() < 0 || ::ioctl(out_fd, TIOCSCTTY, 0) != 0) fail(3);
  } else {
    ::setpgid(0, 0);
  }
  // dup2 onto 0,1,2 (dup2 of a descriptor onto itself keeps O_CLOEXEC: clear it).
  const int from[3] = {in_fd, out_fd, err_fd};
  for (int target = 0; target < 3; ++target) {
    if (from[target] == target) {
      ::fcntl(target, F_SETFD, 0);
    } else if (::dup2(from[target], target) < 0) {
      fail(4);
    }
  }
  // Descriptors runlog itself inherited without O_CLOEXEC (a parent's pipes)
  // are not the child's business either: close them all on exec.
  if (::close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (cwd != nullptr && ::chdir(cwd) != 0) fail(1);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL/SIGSTOP fail harmlessly
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(path, argv, envp);
  fail(2);
  ::_exit(127);
}

std::vector<std::string> child_environment(const ChildSpec& spec, std::string* path_var) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    std::string_view key = kv.substr(0, kv.find('='));
    bool replaced = std::any_of(spec.env.begin(), spec.env.end(), [&](const auto& p) { return p.first == key; });
    if (!replaced) env.emplace_back(kv);
  }
  for (const auto& [k, v] : spec.env) env.push_back(k + "=" + v);
  *path_var = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& kv : env)
    if (kv.rfind("PATH=", 0) == 0) *path_var = kv.substr(5);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

constexpr int kPipeBytes = 1 << 20;
// See the read loop: reads of kCoalesceMin..kCoalesceMax bytes, and under half
// of their room, wait this long before the next poll (a pipe of kPipeBytes
// fills in it only above 5 GB/s).
constexpr useconds_t kCoalesceUs = 200;
constexpr std::ptrdiff_t kCoalesceMin = 4096;
constexpr std::size_t kCoalesceMax = 64 * 1024;

}  // namespace

int CaptureResult::exit_status() const {
  if (!error.empty()) return spawn_status;
  if (signal != 0) return 128 + signal;
  return exit_code;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : fmt::format("SIG{}", sig);
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_-./=:,+@%").find(c) != std::string_view::npos;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'') out += "'\\''";
      else out += c;
    }
    out += '\'';
  }
  return out;
}

namespace {

// Where a capture's reads land. read_into() calls `read(buf, room)` once, with
// memory of its own, and returns the status of keeping what it read (the
// sink's or the push's); *got is what read returned.
class ChunkTarget {
 public:
  using ReadFn = std::ptrdiff_t (*)(void* reader, char* buf, std::size_t room);
  virtual ~ChunkTarget() = default;
  virtual Status read_into(Channel channel, std::size_t max, ReadFn read, void* reader, std::ptrdiff_t* got) = 0;
};

// capture()'s: one buffer, each read handed to the sink.
class SinkTarget final : public ChunkTarget {
 public:
  SinkTarget(const ChunkSink& sink, std::size_t size) : sink_(sink), buffer_(size, '\0') {}
  Status read_into(Channel channel, std::size_t max, ReadFn read, void* reader, std::ptrdiff_t* got) override {
    *got = read(reader, buffer_.data(), std::min(max, buffer_.size()));
    if (*got <= 0) return Status::OK();
    return sink_(channel, std::string_view(buffer_.data(), static_cast<std::size_t>(*got)));
  }

 private:
  const ChunkSink& sink_;
  std::string buffer_;
};

// capture_into_run()'s: each read lands in the engine's memory (Producer::push_filled).
class RunTarget final : public ChunkTarget {
 public:
  RunTarget(const Run& run, Producer& producer) : run_(run), producer_(producer) {}
  Status read_into(Channel channel, std::size_t max, ReadFn read, void* reader, std::ptrdiff_t* got) override {
    auto fill = [&](char* buf, std::size_t room) { return read(reader, buf, room); };
    return producer_.push_filled(run_, channel, max, fill, got).status();
  }

 private:
  const Run& run_;
  Producer& producer_;
};

Result<CaptureResult> capture_into(const CaptureOptions& options, ChunkTarget& target);

}  // namespace

Result<CaptureResult> capture(const CaptureOptions& options, const ChunkSink& sink) {
  SinkTarget target(sink, std::max<std::size_t>(options.read_size, 4096));
  return capture_into(options, target);
}

namespace {

Result<CaptureResult> capture_into(const CaptureOptions& options, ChunkTarget& target) {
  const ChildSpec& spec = options.child;
  if (spec.argv.empty() || spec.argv[0].empty()) return Status::Invalid("capture: no command");
  CaptureResult result;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // Everything the child needs is built before the fork.
  std::string path_var;
  std::vector<std::string> env = child_environment(spec, &path_var);
  int lookup_err = 0;
  std::string path = resolve_command(spec.argv[0], path_var, &lookup_err);
  if (path.empty()) {
    result.spawn_status = lookup_err == EACCES ? 126 : 127;
    result.error = lookup_err == EACCES ? fmt::format("{}: permission denied", spec.argv[0])
                                        : fmt::format("{}: command not found", spec.argv[0]);
    result.seconds = elapsed();
    return result;
  }
  std::vector<std::string> argv_copy = spec.argv;
  std::vector<char*> argv = c_strings(argv_copy);
  std::vector<char*> envp = c_strings(env);

  Fd out_r, out_w, err_r, err_w, in_fd, report_r, report_w;
  if (spec.pty) {
    RUNLOG_RETURN_IF_ERROR(make_pty(&out_r, &out_w));
  } else {
    RUNLOG_RETURN_IF_ERROR(make_pipe(&out_r, &out_w));
    RUNLOG_RETURN_IF_ERROR(make_pipe(&err_r, &err_w));
    // Bigger pipes: fewer wake-ups and larger reads when a child floods (best
    // effort: up to /proc/sys/fs/pipe-max-size, 1 MiB by default).
    ::fcntl(out_w.get(), F_SETPIPE_SZ, kPipeBytes);
    ::fcntl(err_w.get(), F_SETPIPE_SZ, kPipeBytes);
  }
  // stdin, on a pty too: runlog's own or /dev/null, so that a child that reads
  // it gets the input and then end-of-file, never a wait on a terminal that
  // nobody types into.
  if (spec.inherit_stdin) {
    int d = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    in_fd = Fd(d >= 0 ? d : ::open("/dev/null", O_RDONLY | O_CLOEXEC));
  } else {
    in_fd = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  if (in_fd.get() < 0) return Status::FromErrno(errno, "open /dev/null");
  RUNLOG_RETURN_IF_ERROR(make_pipe(&report_r, &report_w));

  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const int max_fd = open_max > 0 && open_max < 65536 ? static_cast<int>(open_max) : 65536;
  const int child_in = in_fd.get();
  const int child_err = spec.pty ? out_w.get() : err_w.get();
  // Registered before the fork so that a forwarded signal cannot miss it; the
  // group exists once the child (or we, just below) called setpgid.
  std::unique_lock<std::mutex> hold(g_groups_mu);
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0)
    child_main(path.c_str(), argv.data(), envp.data(), cwd, child_in, out_w.get(), child_err, spec.pty,
               report_w.get(), max_fd);
  if (!spec.pty) ::setpgid(pid, pid);  // as the child does: whoever runs first
  g_groups.push_back(pid);
  if (g_forwarded != 0) ::kill(-pid, g_forwarded);  // a signal came before this child
  hold.unlock();
  result.pid = pid;
  out_w.reset();
  err_w.reset();
  in_fd.reset();
  report_w.reset();

  auto reap = [&] {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    unregister_group(pid);
    if (WIFSIGNALED(st)) result.signal = WTERMSIG(st);
    else result.exit_code = WEXITSTATUS(st);
    result.seconds = elapsed();
  };

  // Did it exec? EOF on the report pipe (closed on exec) says yes.
  ExecFailure failure{};
  ssize_t got;
  do {
    got = ::read(report_r.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    reap();
    result.exit_code = -1;
    result.signal = 0;
    const char* what = failure.stage == 1 ? "cannot enter the folder" : failure.stage == 3 ? "cannot set up the terminal"
                       : failure.stage == 4 ? "cannot set up its descriptors" : "cannot run";
    std::string where = failure.stage == 1 ? spec.cwd : spec.argv[0];
    result.error = fmt::format("{}: {}: {}", where, what, ::strerror(failure.err));
    result.spawn_status = failure.stage == 2 && failure.err == ENOENT ? 127 : 126;
    if (failure.stage == 1) result.spawn_status = 127;
    return result;
  }
  report_r.reset();

  Status first_error;
  if (options.on_started) first_error = options.on_started(pid);

  // Pump both outputs until both are closed. Sources in this order: stdout,
  // then stderr, so that when both are ready stdout is read first (a child that
  // wrote to stdout and then to stderr is recorded in that order).
  const std::size_t read_size = std::max<std::size_t>(options.read_size, 4096);
  // Once the target has refused a chunk, the rest is read away through this.
  ChunkSink discard = [](Channel, std::string_view) { return Status::OK(); };
  SinkTarget draining(discard, read_size);
  struct Source {
    int fd;
    Channel channel;
    int passthrough;
  };
  std::vector<Source> open;
  open.push_back({out_r.get(), Channel::stdout_, options.passthrough_stdout});
  if (!spec.pty) open.push_back({err_r.get(), Channel::stderr_, options.passthrough_stderr});
  int passthrough_broken[3] = {0, 0, 0};
  std::vector<pollfd> fds;
  std::vector<std::size_t> closed;
  // A read of a few KiB means a child that writes as fast as it can while
  // runlog keeps up: one wake-up and one record per write of the child's
  // stdio buffer. Waiting kCoalesceUs before the next poll lets the pipe
  // gather what it writes meanwhile into one read (`seq 1 20000000`: reads
  // of ~200 KiB instead of ~10 KiB, a third less system time). A read that
  // filled most of its room does not wait: the pipe holds more.
  bool coalesce = false;
  while (!open.empty()) {
    if (coalesce) ::usleep(kCoalesceUs);
    coalesce = false;
    fds.clear();
    for (const Source& s : open) fds.push_back({s.fd, POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (first_error.ok()) first_error = Status::FromErrno(errno, "poll");
      break;
    }
    closed.clear();
    for (std::size_t i = 0; i < open.size(); ++i) {
      const short revents = fds[i].revents;
      Source& s = open[i];
      if (revents == 0) continue;
      // One read, into the target's memory; the copy to the terminal and the
      // counts are taken there, before the bytes are handed on.
      struct Reader {
        Source& source;
        int* broken;
        CaptureResult& result;
        int err = 0;
        std::size_t room = 0;
        static std::ptrdiff_t read(void* self, char* buf, std::size_t room) {
          Reader& me = *static_cast<Reader*>(self);
          me.room = room;
          const ssize_t r = ::read(me.source.fd, buf, room);
          if (r <= 0) {
            me.err = r < 0 ? errno : 0;
            return r;
          }
          const int ch = static_cast<int>(me.source.channel);
          if (me.source.passthrough >= 0 && !me.broken[ch] &&
              write_fully(me.source.passthrough, buf, static_cast<std::size_t>(r)) != 0)
            me.broken[ch] = 1;
          if (me.source.channel == Channel::stdout_) {
            me.result.stdout_bytes += static_cast<std::uint64_t>(r);
            ++me.result.stdout_chunks;
          } else {
            me.result.stderr_bytes += static_cast<std::uint64_t>(r);
            ++me.result.stderr_chunks;
          }
          return r;
        }
      } reader{s, passthrough_broken, result};
      std::ptrdiff_t r = 0;
      Status kept = (first_error.ok() ? target : draining).read_into(s.channel, read_size, &Reader::read, &reader, &r);
      if (first_error.ok()) first_error = kept;
      if (!kept.ok() && r == 0) {  // refused before reading (a closed or failed run): read it away
        kept = draining.read_into(s.channel, read_size, &Reader::read, &reader, &r);
      }
      if (r >= kCoalesceMin && static_cast<std::size_t>(r) < std::min(kCoalesceMax, reader.room / 2)) coalesce = true;
      if (r < 0 && (reader.err == EINTR || reader.err == EAGAIN)) continue;
      if (r <= 0) closed.push_back(i);  // EOF; EIO on a pty master once the terminal's last user is gone
    }
    for (std::size_t k = closed.size(); k-- > 0;) open.erase(open.begin() + static_cast<std::ptrdiff_t>(closed[k]));
  }
  // Reap before closing: closing a pty's master hangs up its terminal, which
  // sends SIGHUP to the child if it has not finished exiting yet (a child that
  // exited 0 was then reported killed by SIGHUP, about 1 time in 8).
  reap();
  out_r.reset();
  err_r.reset();
  if (!first_error.ok()) return first_error;
  return result;
}

}  // namespace

Result<CaptureResult> capture_into_run(const CaptureOptions& options, const Run& run, Producer& producer) {
  CaptureOptions o = options;
  auto user_started = options.on_started;
  o.on_started = [&](pid_t pid) -> Status {
    std::string data = fmt::format("{{\"pid\":{},\"command\":[", pid);
    for (std::size_t i = 0; i < options.child.argv.size(); ++i) {
      if (i) data += ',';
      append_json_string(&data, options.child.argv[i]);
    }
    data += "],\"cwd\":";
    std::string cwd = options.child.cwd;
    if (cwd.empty()) {
      char buf[4096];
      if (::getcwd(buf, sizeof buf) != nullptr) cwd = buf;
    }
    append_json_string(&data, cwd);
    if (options.child.pty) data += ",\"pty\":true";
    data += '}';
    auto t = producer.push_event(run, {EventType::worker_started, LogLevel::info,
                                       fmt::format("started {} (pid {})", shell_join(options.child.argv), pid), data});
    if (!t.ok()) return t.status();
    return user_started ? user_started(pid) : Status::OK();
  };
  RunTarget target(run, producer);
  Result<CaptureResult> captured = capture_into(o, target);
  if (!captured.ok()) return captured;
  const CaptureResult& r = captured.value();

  LifecycleEvent exited{EventType::worker_exited, LogLevel::info, "", ""};
  if (!r.error.empty()) {
    exited.level = LogLevel::error;
    exited.message = "could not start: " + r.error;
    exited.dataJson = fmt::format("{{\"exitCode\":{},\"error\":", r.spawn_status);
    append_json_string(&exited.dataJson, r.error);
    exited.dataJson += '}';
  } else if (r.signal != 0) {
    exited.level = LogLevel::error;
    exited.message = fmt::format("killed by {}", signal_name(r.signal));
    exited.dataJson = fmt::format("{{\"signal\":\"{}\"}}", signal_name(r.signal));
  } else {
    exited.level = r.exit_code == 0 ? LogLevel::info : LogLevel::error;
    exited.message = fmt::format("exited with code {}", r.exit_code);
    exited.dataJson = fmt::format("{{\"exitCode\":{}}}", r.exit_code);
  }
  if (auto t = producer.push_event(run, exited); !t.ok()) return t.status();
  const bool ok = r.error.empty() && r.signal == 0 && r.exit_code == 0;
  LifecycleEvent step{ok ? EventType::step_completed : EventType::step_failed, ok ? LogLevel::info : LogLevel::error,
                      ok ? "step completed" : "step failed: " + exited.message, ""};
  if (auto t = producer.push_event(run, step); !t.ok()) return t.status();
  return captured;
}

// ----------------------------------------------------------- SignalForwarder

namespace {
sigset_t forwarded_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

SignalForwarder::SignalForwarder() {
  sigset_t set = forwarded_set();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  {
    std::lock_guard<std::mutex> lock(g_groups_mu);
    g_forwarded = 0;
  }
  thread_ = std::thread([this] { loop(); });
}

SignalForwarder::~SignalForwarder() {
  stop_.store(true, std::memory_order_release);
  thread_.join();
  sigset_t set = forwarded_set();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void SignalForwarder::loop() {
  const sigset_t set = forwarded_set();
  int interrupts = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    // A short timeout so that the destructor is heard; signals wait in the kernel meanwhile.
    struct timespec timeout {0, 50'000'000};
    siginfo_t info;
    int sig = ::sigtimedwait(&set, &info, &timeout);
    if (sig <= 0) continue;
    int expected = 0;
    first_.compare_exchange_strong(expected, sig, std::memory_order_acq_rel);
    if (sig == SIGINT && ++interrupts >= 2) sig = SIGKILL;
    signal_groups(sig);
  }
}

}  // namespace runlog
