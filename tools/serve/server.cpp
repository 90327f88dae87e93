// tools/serve/server.cpp — see server.h; the endpoints are in docs/serve.md.
#include "tools/serve/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/utf8.h"
#include "io/reader.h"
#include "io/reader_follow.h"
#include "serve_assets.h"  // generated from tools/serve/web/* (tools/serve/embed_assets.cmake)
#include "tools/views.h"

namespace runlog::tools {
namespace {

constexpr std::string_view kEndEvent = "event: end\ndata: \n\n";
constexpr std::string_view kKeepalive = ": keepalive\n\n";
constexpr std::size_t kWriteChunk = std::size_t{256} << 10;
constexpr std::size_t kExtraThreads = 32;  // the pool beyond max_streams: short requests, idle keep-alives
constexpr std::chrono::milliseconds kHubInterval{10};  // a hub reads (and sends) at most this often

// ---------------------------------------------------------------------------
// Paths

enum class PathVerdict { ok, bad };

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits the request target's path into percent-decoded segments. A backslash
// in any spelling, an encoded or literal "." / ".." segment, an encoded '/',
// a NUL, a bad escape or an empty inner segment: bad (400), before any routing.
PathVerdict split_path(std::string_view target, std::vector<std::string>* segs) {
  const std::size_t q = target.find_first_of("?#");
  std::string_view path = target.substr(0, q);
  if (path.empty() || path[0] != '/') return PathVerdict::bad;
  path.remove_prefix(1);
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    std::string_view raw = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (raw.empty()) {
      if (slash == std::string_view::npos || path.empty()) break;  // one trailing '/'
      return PathVerdict::bad;
    }
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '%') {
        if (i + 2 >= raw.size()) return PathVerdict::bad;
        const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0) return PathVerdict::bad;
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
      if (c == '/' || c == '\\' || c == '\0') return PathVerdict::bad;
      seg += c;
    }
    if (seg == "." || seg == "..") return PathVerdict::bad;
    segs->push_back(std::move(seg));
  }
  return PathVerdict::ok;
}

bool is_real_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_regular(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// ---------------------------------------------------------------------------
// Responses

void send_error(httplib::Response& res, int status, std::string_view message) {
  std::string body = "{\"error\":";
  append_json_string(&body, message);
  body += "}\n";
  res.status = status;
  res.set_content(body, "application/json");
}

// A whole number, digits only (no sign, no spaces); false otherwise.
bool parse_u64(const std::string& s, std::uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// One SSE event for a run entry: "id: <seq>\ndata: <entry JSON>\n\n".
void append_run_event(const io::Entry& e, const io::RunContext& ctx, std::string* out) {
  *out += "id: ";
  *out += std::to_string(e.seq());
  *out += "\ndata: ";
  io::append_jsonl(e, ctx, out);  // ends with '\n'; JSON text has no raw newline
  *out += '\n';
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

// ---------------------------------------------------------------------------
// Connections. cpp-httplib's own connection loop closes the socket once a
// response has ended. This one also lets a run's SSE stream hand its socket to
// the run's hub (Connection::adopted), so that a stream holds a pool thread
// only while it catches up from the files. Debian's cpp-httplib is a shared
// library that does not export its socket stream, hence FdStream; the request
// parsing and the responses stay cpp-httplib's (Server::process_request).

namespace {

using Clock = std::chrono::steady_clock;

/// The connection a pool thread is serving, for the duration of
/// HttpServer::process_and_close_socket on that thread.
struct Connection {
  int fd = -1;
  bool adopted = false;  ///< the socket now belongs to a hub: not closed here
};
thread_local Connection* t_connection = nullptr;

int to_ms(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

bool poll_one(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  int r = 0;
  do r = ::poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & POLLNVAL) == 0;
}

/// httplib::Stream over a blocking socket, with cpp-httplib's timeouts.
/// Reads are buffered (the request parser reads a byte at a time).
/// Threads: the connection's pool thread only.
class FdStream final : public httplib::Stream {
 public:
  FdStream(int fd, int read_ms, int write_ms) : fd_(fd), read_ms_(read_ms), write_ms_(write_ms) {}

  bool is_readable() const override { return buffered() || poll_one(fd_, POLLIN, read_ms_); }
  bool is_writable() const override { return poll_one(fd_, POLLOUT, write_ms_); }
  bool buffered() const { return off_ < len_; }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (!poll_one(fd_, POLLIN, read_ms_)) return -1;
      if (size >= sizeof buf_) return recv_some(ptr, size);
      const ssize_t n = recv_some(buf_, sizeof buf_);
      if (n <= 0) return n;
      off_ = 0;
      len_ = static_cast<std::size_t>(n);
    }
    const std::size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    for (;;) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) return n;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return fd_; }

 private:
  ssize_t recv_some(char* p, std::size_t n) const {
    for (;;) {
      const ssize_t r = ::recv(fd_, p, n, 0);
      if (r >= 0 || errno != EINTR) return r;
    }
  }
  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    auto* sa = reinterpret_cast<sockaddr*>(&a);
    if ((peer ? ::getpeername(fd_, sa, &len) : ::getsockname(fd_, sa, &len)) != 0) return;
    char host[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
      port = ntohs(v6->sin6_port);
    }
    ip = host;
  }

  int fd_;
  int read_ms_, write_ms_;
  char buf_[4096];
  std::size_t off_ = 0, len_ = 0;
};

/// cpp-httplib's server with the connection loop above.
/// Threads: process_and_close_socket runs on a pool thread per connection.
class HttpServer final : public httplib::Server {
 public:
  int stop_fd = -1;  ///< readable once the server stops: idle keep-alive waits end at once

 private:
  bool process_and_close_socket(socket_t sock) override {
    FdStream strm(sock, to_ms(read_timeout_sec_, read_timeout_usec_), to_ms(write_timeout_sec_, write_timeout_usec_));
    Connection conn{sock, false};
    t_connection = &conn;
    bool ret = false;
    for (std::size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      if (!strm.buffered() && !wait_for_request(sock)) break;
      bool closed = false;
      ret = process_request(strm, left == 1, closed, nullptr);
      if (!ret || closed || conn.adopted) break;
    }
    t_connection = nullptr;
    if (!conn.adopted) {
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
    }
    return ret;
  }
  // The next request of a keep-alive connection, its timeout, or stop().
  bool wait_for_request(int sock) const {
    pollfd p[2] = {{sock, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = 0;
    do r = ::poll(p, stop_fd >= 0 ? 2 : 1, static_cast<int>(keep_alive_timeout_sec_ * 1000));
    while (r < 0 && errno == EINTR);
    return r > 0 && p[0].revents != 0 && (stop_fd < 0 || p[1].revents == 0);
  }
};

// ---------------------------------------------------------------------------
// Live runs: one hub thread per followed run reads each durable record once,
// encodes it once, and writes the same bytes to every follower's socket.

/// Bytes queued for a follower: a shared piece of chunked body, and how much
/// of it the kernel has taken.
struct Piece {
  std::shared_ptr<const std::string> bytes;
  std::size_t off = 0;
};

/// A run's SSE client after its catch-up. Its socket belongs to the hub
/// thread, which never waits for it (non-blocking sends).
/// Threads: built by a connection thread, then the hub thread only.
struct Follower {
  int fd = -1;
  std::shared_ptr<void> slot;    ///< its place among --max-streams
  std::uint64_t sent = 0;        ///< the highest seq queued for it
  std::deque<Piece> pending;     ///< not yet taken by the kernel
  std::size_t pending_bytes = 0;
  bool want_out = false;         ///< EPOLLOUT is registered
  bool closing = false;          ///< the end of the body is queued: closed once it is sent
  bool dead = false;             ///< to be closed and dropped
  Clock::time_point progress{};  ///< when pending last moved (or began)
};

struct Hub {
  explicit Hub(std::string d, std::uint64_t p) : dir(std::move(d)), pos(p) {}
  const std::string dir;
  std::mutex m;
  std::uint64_t pos;      ///< the highest seq the hub has read (under m)
  bool finished = false;  ///< takes no more followers (under m)
  std::vector<std::unique_ptr<Follower>> joining;  ///< handed over, not yet taken by the hub thread (under m)
};

constexpr std::string_view kLastChunk = "0\r\n\r\n";
// A follower whose pending bytes have not moved for this long is closed (as
// cpp-httplib's write timeout would), and so are followers still unflushed
// this long after stop().
constexpr auto kStallLimit = std::chrono::seconds(5);

// `body` as one chunk of a chunked HTTP body.
std::shared_ptr<const std::string> framed(std::string_view body, std::string_view after = {}) {
  auto s = std::make_shared<std::string>(fmt::format("{:x}\r\n", body.size()));
  s->append(body);
  s->append("\r\n");
  s->append(after);
  return s;
}

void watch_out(Follower& f, int ep, bool want) {
  if (f.want_out == want) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
  ev.data.ptr = &f;
  ::epoll_ctl(ep, EPOLL_CTL_MOD, f.fd, &ev);
  f.want_out = want;
}

// Hands the kernel what it takes now; never waits. All sent and closing: dead
// (the body is complete).
void flush(Follower& f, int ep, Clock::time_point now) {
  while (!f.pending.empty()) {
    iovec iov[64];
    int n = 0;
    for (auto it = f.pending.begin(); it != f.pending.end() && n < 64; ++it, ++n) {
      iov[n].iov_base = const_cast<char*>(it->bytes->data() + it->off);
      iov[n].iov_len = it->bytes->size() - it->off;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    const ssize_t w = ::sendmsg(f.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      f.dead = true;  // the client went away
      return;
    }
    f.progress = now;
    auto left = static_cast<std::size_t>(w);
    while (left > 0) {
      Piece& p = f.pending.front();
      const std::size_t rest = p.bytes->size() - p.off;
      const std::size_t took = std::min(left, rest);
      p.off += took;
      f.pending_bytes -= took;
      left -= took;
      if (took == rest) f.pending.pop_front();
    }
  }
  if (f.pending.empty() && f.closing) {
    f.dead = true;
    return;
  }
  watch_out(f, ep, !f.pending.empty());
}

// Ends f's body cleanly after the piece the kernel is taking: what was queued
// behind it is dropped, and the client resumes by Last-Event-ID.
void end_body(Follower& f, const std::shared_ptr<const std::string>& last_chunk) {
  if (f.closing || f.dead) return;
  const std::size_t keep = !f.pending.empty() && f.pending.front().off > 0 ? 1 : 0;
  while (f.pending.size() > keep) {
    f.pending_bytes -= f.pending.back().bytes->size();
    f.pending.pop_back();
  }
  f.pending.push_back({last_chunk, 0});
  f.pending_bytes += last_chunk->size();
  f.closing = true;
}

// Queues bytes for f. A follower that already has --client-buffer bytes
// waiting is too slow: its stream is ended instead.
void offer(Follower& f, const std::shared_ptr<const std::string>& bytes, std::size_t limit,
           const std::shared_ptr<const std::string>& last_chunk, Clock::time_point now) {
  if (f.closing || f.dead) return;
  if (!f.pending.empty() && f.pending_bytes + bytes->size() > limit) return end_body(f, last_chunk);
  if (f.pending.empty()) f.progress = now;
  f.pending.push_back({bytes, 0});
  f.pending_bytes += bytes->size();
}

// Reads and drops what a follower sends; false once it has closed its end.
bool drain(int fd) {
  char buf[512];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

}  // namespace

struct LogServer::Impl {
  ServeOptions opt;
  HttpServer http;
  int listen_fd = -1;
  int bound_port = 0;
  int stop_pipe[2] = {-1, -1};  // a byte is written once on stop(); everything polling it wakes
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> streams{0};

  std::mutex hubs_m;
  std::condition_variable hubs_cv;
  std::map<std::string, std::shared_ptr<Hub>> hubs;
  std::size_t hub_threads = 0;  // under hubs_m
  std::atomic<bool> in_run{false};   // run() entered
  std::atomic<bool> run_done{false};  // run() returned

  explicit Impl(ServeOptions o) : opt(std::move(o)) {}

  // --- routing -------------------------------------------------------------
  void handle(const httplib::Request& req, httplib::Response& res);
  void route_runs(const std::vector<std::string>& segs, const httplib::Request& req, httplib::Response& res);
  void route_conversations(const std::vector<std::string>& segs, const httplib::Request& req, httplib::Response& res);
  bool query_number(const httplib::Request& req, const char* name, std::uint64_t* out, httplib::Response& res);
  bool take_stream_slot(httplib::Response& res, std::shared_ptr<void>* slot);
  void serve_events(const std::string& dir, bool run, const httplib::Request& req, httplib::Response& res);

  // --- streams -------------------------------------------------------------
  bool stream_run(const std::string& dir, std::uint64_t after, const std::shared_ptr<void>& slot,
                  httplib::DataSink& sink);
  bool stream_conversation(const std::string& dir, std::uint64_t after, httplib::DataSink& sink);
  bool attach(const std::string& dir, std::unique_ptr<Follower>* follower);
  void hub_loop(const std::shared_ptr<Hub>& hub);
};

// ---------------------------------------------------------------------------

LogServer::LogServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

LogServer::~LogServer() {
  stop();
  std::unique_lock<std::mutex> l(impl_->hubs_m);
  impl_->hubs_cv.wait(l, [&] { return impl_->hub_threads == 0; });
  l.unlock();
  for (int fd : impl_->stop_pipe)
    if (fd >= 0) ::close(fd);
}

int LogServer::port() const noexcept { return impl_->bound_port; }

Status LogServer::bind() {
  Impl& s = *impl_;
  if (!is_loopback_host(s.opt.host) && s.opt.token.empty())
    return Status::Invalid("listening on " + s.opt.host + " (not loopback) needs --token-file");
  if (::pipe2(s.stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return Status::FromErrno(errno, "pipe");
  s.http.stop_fd = s.stop_pipe[0];

  const std::size_t threads = s.opt.max_streams + kExtraThreads;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_socket_options([&s](int fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    s.listen_fd = fd;
  });
  s.http.set_tcp_nodelay(true);
  // An idle keep-alive connection holds a pool thread, and stop() waits for it.
  s.http.set_keep_alive_timeout(2);
  s.http.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response& res) {
    if (!s.opt.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Origin", s.opt.cors_origin);
      res.set_header("Vary", "Origin");
    }
    res.set_header("X-Content-Type-Options", "nosniff");
    if (req.method == "OPTIONS" && !s.opt.cors_origin.empty()) {  // a CORS preflight, only when asked for
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, HEAD");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Last-Event-ID");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      send_error(res, 405, "only GET and HEAD are allowed");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!s.opt.token.empty()) {
      const std::string got = req.get_header_value("Authorization");
      const std::string want = "Bearer " + s.opt.token;
      // Compared in time independent of where they differ.
      unsigned diff = got.size() != want.size();
      for (std::size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(want[i] ^ (i < got.size() ? got[i] : 0));
      if (diff != 0) {
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, 401, "this server needs Authorization: Bearer <token>");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    s.handle(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });

  if (s.opt.port == 0) {
    s.bound_port = s.http.bind_to_any_port(s.opt.host);
    if (s.bound_port < 0) s.bound_port = 0;
  } else {
    s.bound_port = s.http.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : 0;
  }
  if (s.bound_port <= 0) return Status(Errc::io_error, 0, "cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port));
  // cpp-httplib listens with a backlog of 5; a thousand clients connecting at
  // once would wait for SYN retries. listen() again only raises the backlog.
  if (s.listen_fd >= 0) ::listen(s.listen_fd, 4096);
  return Status::OK();
}

Status LogServer::run() {
  impl_->in_run = true;
  bool ok = impl_->stopping || impl_->http.listen_after_bind();
  impl_->run_done = true;
  if (!ok && !impl_->stopping) return Status(Errc::io_error, 0, "the server stopped unexpectedly");
  return Status::OK();
}

void LogServer::stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  if (s.stop_pipe[1] >= 0) {
    char c = 1;
    ssize_t r = ::write(s.stop_pipe[1], &c, 1);
    (void)r;
  }
  // A stop() racing with run()'s start: wait until httplib is listening (it
  // ignores a stop() before that), unless run() already returned.
  while (s.in_run && !s.run_done && !s.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.http.stop();
}

// ---------------------------------------------------------------------------
// Routing

void LogServer::Impl::handle(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> segs;
  if (req.target.find('\\') != std::string::npos || split_path(req.target, &segs) != PathVerdict::ok)
    return send_error(res, 400, "bad path: no '..', '.', encoded '/' or backslash");
  if (segs.empty() || (segs.size() == 1 && (segs[0] == "index.html"))) segs = {"index.html"};
  if (segs.size() == 1) {
    for (const ServeAsset& a : kServeAssets) {
      if (segs[0] == a.name) {
        res.set_header("Cache-Control", "no-cache");
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:");
        res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.type);
        return;
      }
    }
  }
  if (segs.size() >= 2 && segs[0] == "api") {
    res.set_header("Cache-Control", "no-store");
    if (segs[1] == "runs") return route_runs(segs, req, res);
    if (segs[1] == "conversations") return route_conversations(segs, req, res);
  }
  send_error(res, 404, "no such endpoint");
}

bool LogServer::Impl::query_number(const httplib::Request& req, const char* name, std::uint64_t* out,
                                   httplib::Response& res) {
  if (req.get_param_value_count(name) == 0) return true;
  if (req.get_param_value_count(name) > 1 || !parse_u64(req.get_param_value(name), out)) {
    send_error(res, 400, std::string(name) + " takes one whole number");
    return false;
  }
  return true;
}

bool LogServer::Impl::take_stream_slot(httplib::Response& res, std::shared_ptr<void>* slot) {
  if (streams.fetch_add(1) >= opt.max_streams) {
    streams.fetch_sub(1);
    res.set_header("Retry-After", "5");
    send_error(res, 503, "too many live streams");
    return false;
  }
  // Released when the response (and its content provider) is destroyed.
  *slot = std::shared_ptr<void>(this, [](Impl* self) { self->streams.fetch_sub(1); });
  return true;
}

// `events` of a run or a conversation. Where it starts: after Last-Event-ID
// when the request has one (a reconnecting EventSource sends it), else after
// ?after=N, else from the start.
void LogServer::Impl::serve_events(const std::string& dir, bool run, const httplib::Request& req,
                                   httplib::Response& res) {
  std::uint64_t after = 0;
  if (!query_number(req, "after", &after, res)) return;
  if (req.has_header("Last-Event-ID") && !parse_u64(req.get_header_value("Last-Event-ID"), &after))
    return send_error(res, 400, "Last-Event-ID takes a seq");
  std::shared_ptr<void> slot;
  if (!take_stream_slot(res, &slot)) return;
  res.set_header("X-Accel-Buffering", "no");
  res.set_header("Connection", "close");  // a stream's connection is not kept for another request
  res.set_chunked_content_provider("text/event-stream", [this, dir, run, after, slot](std::size_t, httplib::DataSink& sink) {
    return run ? stream_run(dir, after, slot, sink) : stream_conversation(dir, after, sink);
  });
}

void LogServer::Impl::route_runs(const std::vector<std::string>& segs, const httplib::Request& req,
                                 httplib::Response& res) {
  if (segs.size() == 2) {
    Result<Listing> listing = list_root(opt.runs_root);
    if (!listing.ok()) return send_error(res, 500, listing.status().to_string());
    std::string body = "[";
    for (const RunRow& r : listing->runs) body += (body.size() > 1 ? "," : "") + run_row_json(r);
    body += "]\n";
    res.set_content(body, "application/json");
    return;
  }
  if (segs.size() < 4 || segs.size() > 5) return send_error(res, 404, "no such endpoint");
  for (int i : {2, 3}) {
    if (Status st = validate_id(i == 2 ? "taskId" : "runId", segs[static_cast<std::size_t>(i)]); !st.ok())
      return send_error(res, 400, st.message());
  }
  const std::string task_dir = opt.runs_root + "/" + segs[2];
  const std::string dir = task_dir + "/" + segs[3];
  bool found = is_real_dir(task_dir) && is_real_dir(dir);
  if (found) {
    found = false;
    for (const char* f : {"meta.json", "state.json", "durable.seq", "worker.jsonl", "stdout.jsonl", "stderr.jsonl"})
      found = found || is_regular(dir + "/" + f);
  }
  if (!found) return send_error(res, 404, "no such run");
  io::Source src;
  src.kind = io::SourceKind::run;
  src.dir = dir;

  const std::string what = segs.size() == 5 ? segs[4] : "";
  if (what.empty()) {
    io::LogReader reader;
    std::string body;
    if (Status st = append_summary_line(reader, src, &body); !st.ok()) return send_error(res, 500, st.to_string());
    res.set_content(body, "application/json");
    return;
  }
  if (what == "entries" || what == "raw") {
    io::ReadFilter filter;
    if (!query_number(req, "after", &filter.after, res) || !query_number(req, "limit", &filter.limit, res)) return;
    std::uint8_t channels = 0;
    for (std::size_t i = 0; i < req.get_param_value_count("channel"); ++i) {
      std::string v = req.get_param_value("channel", i);
      std::size_t from = 0;
      for (;;) {
        const std::size_t comma = v.find(',', from);
        const std::string name = v.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        bool known = false;
        for (int c = 0; c < kRunChannels; ++c) {
          if (name == channel_name(static_cast<Channel>(c))) {
            channels |= io::channel_bit(static_cast<Channel>(c));
            known = true;
          }
        }
        if (!known) return send_error(res, 400, "channel: unknown value '" + name + "' (worker, stdout, stderr)");
        if (comma == std::string::npos) break;
        from = comma + 1;
      }
    }
    const EntryFormat format = what == "raw" ? EntryFormat::raw : EntryFormat::jsonl;
    if (format == EntryFormat::raw) {
      if (channels & io::channel_bit(Channel::worker))
        return send_error(res, 400, "raw serves stream channels only (stdout, stderr), not worker");
      if (channels == 0) channels = io::channel_bit(Channel::stdout_) | io::channel_bit(Channel::stderr_);
    }
    filter.channels = channels ? channels : io::kAllChannels;
    {
      io::LogReader probe;  // errors that come before the first byte get a status of their own
      if (Status st = probe.open(src, filter); !st.ok())
        return send_error(res, st.code() == Errc::not_found ? 404 : 500, st.to_string());
    }
    res.set_chunked_content_provider(
        format == EntryFormat::raw ? "application/octet-stream" : "application/x-ndjson",
        [src, filter, format](std::size_t, httplib::DataSink& sink) {
          io::LogReader reader;
          std::string buf;
          auto flush = [&]() -> Status {
            if (!buf.empty() && !sink.write(buf.data(), buf.size())) return Status(Errc::io_error, 0, "client went away");
            buf.clear();
            return Status::OK();
          };
          Status st = replay_run(reader, src, filter, format, false, &buf, flush, nullptr);
          if (st.ok()) st = flush();
          if (!st.ok()) return false;  // the body is cut short: the client sees an incomplete response
          sink.done();
          return true;
        });
    return;
  }
  if (what == "events") return serve_events(dir, true, req, res);
  send_error(res, 404, "no such endpoint");
}

void LogServer::Impl::route_conversations(const std::vector<std::string>& segs, const httplib::Request& req,
                                          httplib::Response& res) {
  if (opt.conversations_root.empty()) return send_error(res, 404, "no --conversations-root given");
  if (segs.size() == 2) {
    Result<Listing> listing = list_root(opt.conversations_root);
    if (!listing.ok()) return send_error(res, 500, listing.status().to_string());
    std::string body = "[";
    for (const ConversationRow& c : listing->conversations)
      body += (body.size() > 1 ? "," : "") + conversation_row_json(c);
    body += "]\n";
    res.set_content(body, "application/json");
    return;
  }
  if (segs.size() > 4) return send_error(res, 404, "no such endpoint");
  if (Status st = validate_id("conversationId", segs[2]); !st.ok()) return send_error(res, 400, st.message());
  const std::string dir = opt.conversations_root + "/" + segs[2];
  if (!is_real_dir(dir) || !is_regular(dir + "/chunks.jsonl")) return send_error(res, 404, "no such conversation");
  const std::string what = segs.size() == 4 ? segs[3] : "";
  std::vector<std::string> notes;
  if (what.empty()) {
    std::string body;
    if (Status st = append_conversation_summary(dir, &body, &notes); !st.ok()) return send_error(res, 500, st.to_string());
    res.set_content(body, "application/json");
    return;
  }
  if (what == "chunks" || what == "messages") {
    std::uint64_t after = 0, limit = 0;
    if (!query_number(req, "after", &after, res) || !query_number(req, "limit", &limit, res)) return;
    std::string body;
    if (Status st = append_conversation(dir, after, limit, what == "messages", &body, &notes); !st.ok())
      return send_error(res, 500, st.to_string());
    if (what == "chunks") {
      res.set_content(body, "application/x-ndjson");
      return;
    }
    // ChatMessage[]: the lines of `runlog replay --format messages`, as one array.
    std::string arr = "[";
    std::size_t from = 0;
    while (from < body.size()) {
      std::size_t nl = body.find('\n', from);
      if (nl == std::string::npos) nl = body.size();
      if (arr.size() > 1) arr += ',';
      arr.append(body, from, nl - from);
      from = nl + 1;
    }
    arr += "]\n";
    res.set_content(arr, "application/json");
    return;
  }
  if (what == "events") return serve_events(dir, false, req, res);
  send_error(res, 404, "no such endpoint");
}

// SSE of a run

bool LogServer::Impl::attach(const std::string& dir, std::unique_ptr<Follower>* follower) {
  std::unique_lock<std::mutex> l(hubs_m);
  std::shared_ptr<Hub>& slot = hubs[dir];
  if (!slot) {
    slot = std::make_shared<Hub>(dir, (*follower)->sent);
    ++hub_threads;
    std::shared_ptr<Hub> hub = slot;
    std::thread([this, hub] { hub_loop(hub); }).detach();  // counted in hub_threads; the destructor waits
  }
  Hub& hub = *slot;
  std::lock_guard<std::mutex> hl(hub.m);
  if (hub.finished || hub.pos > (*follower)->sent) return false;  // read on from the files first
  hub.joining.push_back(std::move(*follower));
  return true;
}

void LogServer::Impl::hub_loop(const std::shared_ptr<Hub>& hub) {
  io::Source src;
  src.dir = hub->dir;
  io::ReadFilter filter;
  {
    std::lock_guard<std::mutex> hl(hub->m);
    filter.after = hub->pos;
  }
  io::LogReader reader;
  io::RunWatcher watcher;
  (void)watcher.open(hub->dir);
  Status st = reader.open(src, filter);
  const std::size_t limit = opt.client_buffer;
  const auto last_chunk = std::make_shared<const std::string>(kLastChunk);
  const auto end_piece = framed(kEndEvent, kLastChunk);
  const auto keepalive = framed(kKeepalive);
  const auto keepalive_after = std::chrono::seconds(opt.keepalive_seconds);

  // The hub waits on one epoll set: the stop pipe (data.ptr null) and every
  // follower's socket (for its hang-up, and for room when bytes are pending).
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, stop_pipe[0], &ev);
  }
  std::vector<std::unique_ptr<Follower>> followers;
  std::vector<epoll_event> events(256);
  bool fin = false, broken = ep < 0, stop_seen = false;
  Clock::time_point stop_deadline{};
  auto last_out = Clock::now();
  auto read_at = last_out - kHubInterval;
  for (;;) {
    // New durable records, read and encoded once for everyone.
    std::string text;
    std::vector<std::pair<std::uint64_t, std::size_t>> seqs;  // (seq, end offset in text)
    if (!fin && !stop_seen && !broken) {
      const io::Entry* e = nullptr;
      while (st.ok() && (st = reader.next(&e)).ok() && e != nullptr) {
        append_run_event(*e, reader.context(), &text);
        seqs.emplace_back(e->seq(), text.size());
      }
      broken = !st.ok();
      fin = broken || reader.finished();
    }
    const bool ended_now = fin && !broken && !stop_seen;
    std::vector<std::unique_ptr<Follower>> newcomers;
    {
      std::lock_guard<std::mutex> hl(hub->m);
      if (!seqs.empty()) hub->pos = seqs.back().first;
      if (fin || broken || stop_seen) hub->finished = true;  // whoever joins later reads on from the files
      newcomers.swap(hub->joining);
    }
    const auto now = Clock::now();
    for (auto& f : newcomers) {  // from now on the hub watches its socket
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.ptr = f.get();
      if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, f->fd, &ev) != 0) f->dead = true;
      followers.push_back(std::move(f));
    }

    if (broken) {
      for (auto& f : followers) f->dead = true;  // cut short: the client sees an unfinished body
    } else {
      if (!seqs.empty()) {
        const auto whole = framed(text);
        for (auto& f : followers) {
          if (seqs.back().first <= f->sent) continue;
          if (seqs.front().first > f->sent) {
            offer(*f, whole, limit, last_chunk, now);
          } else {  // it read some of these itself while catching up
            std::size_t from = 0;
            for (const auto& [seq, end] : seqs) {
              if (seq > f->sent) break;
              from = end;
            }
            offer(*f, framed(std::string_view(text).substr(from)), limit, last_chunk, now);
          }
          f->sent = seqs.back().first;
        }
        last_out = now;
      } else if (now - last_out >= keepalive_after) {
        for (auto& f : followers) offer(*f, keepalive, limit, last_chunk, now);
        last_out = now;
      }
      if (ended_now) {
        for (auto& f : followers) {
          if (f->closing) continue;
          offer(*f, end_piece, limit, last_chunk, now);
          f->closing = true;
        }
      }
      if (stop_seen) {
        for (auto& f : followers) end_body(*f, last_chunk);  // no `end`: the client reconnects and resumes
      }
      for (auto& f : followers) {
        if (f->dead) continue;
        if (!f->want_out && !f->pending.empty()) flush(*f, ep, now);
        if (!f->pending.empty() && now - f->progress > kStallLimit) f->dead = true;  // stopped reading
        if (stop_seen && now > stop_deadline) f->dead = true;
      }
    }
    auto gone = std::remove_if(followers.begin(), followers.end(), [ep](const std::unique_ptr<Follower>& f) {
      if (!f->dead) return false;
      if (ep >= 0) ::epoll_ctl(ep, EPOLL_CTL_DEL, f->fd, nullptr);
      ::shutdown(f->fd, SHUT_RDWR);
      ::close(f->fd);
      return true;  // its stream slot goes with it
    });
    followers.erase(gone, followers.end());

    if (followers.empty()) {
      if (fin || broken || stop_seen) break;  // `finished` is set: nobody can join any more
      bool idle = false;
      {
        std::lock_guard<std::mutex> l(hubs_m);
        std::lock_guard<std::mutex> hl(hub->m);
        if (hub->joining.empty()) idle = hub->finished = true;  // nobody left to follow for
      }
      if (idle) break;
      continue;
    }

    // Wait for the run folder to change (inotify), a socket, or stop().
    int n = 0;
    if (fin || stop_seen) {
      n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);  // only sending what is left
    } else {
      bool ready = false;
      (void)watcher.wait(200, ep, &ready);
      if (ready) n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 0);
    }
    const auto woke = Clock::now();
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<std::size_t>(i)];
      if (ev.data.ptr == nullptr) {  // stop(): end every body, give the clients kStallLimit to take it
        stop_seen = true;
        stop_deadline = woke + kStallLimit;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, stop_pipe[0], nullptr);
        continue;
      }
      Follower& f = *static_cast<Follower*>(ev.data.ptr);
      if (f.dead) continue;
      if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !drain(f.fd)) f.dead = true;
      if (!f.dead && (ev.events & EPOLLOUT)) flush(f, ep, woke);
    }
    if (!fin && !stop_seen) {
      // Each read ends in a send to every follower: what lands within
      // kHubInterval goes out together (at most that much more latency,
      // far fewer sends under load).
      const auto since = woke - read_at;
      if (since < kHubInterval) std::this_thread::sleep_for(kHubInterval - since);
      read_at = Clock::now();
      st = reader.refresh();
    }
  }
  for (auto& f : followers) {
    ::shutdown(f->fd, SHUT_RDWR);
    ::close(f->fd);
  }
  followers.clear();
  if (ep >= 0) ::close(ep);
  std::lock_guard<std::mutex> l(hubs_m);
  {
    std::lock_guard<std::mutex> hl(hub->m);
    hub->finished = true;
    for (auto& f : hub->joining) {  // handed over after the last look (cannot happen once finished, kept safe)
      ::shutdown(f->fd, SHUT_RDWR);
      ::close(f->fd);
    }
    hub->joining.clear();
  }
  auto it = hubs.find(hub->dir);
  if (it != hubs.end() && it->second == hub) hubs.erase(it);
  --hub_threads;
  hubs_cv.notify_all();
}

// The connection's thread catches up from the files on its own reader (from
// `after` up to where the run's hub is, however far back that is), then hands
// its socket to the hub, which skips by seq what was already sent: no gap and
// no duplicate at the seam.
bool LogServer::Impl::stream_run(const std::string& dir, std::uint64_t after, const std::shared_ptr<void>& slot,
                                 httplib::DataSink& sink) {
  auto write = [&sink](std::string_view s) { return s.empty() || sink.write(s.data(), s.size()); };
  io::Source src;
  src.dir = dir;
  io::ReadFilter filter;
  filter.after = after;
  io::LogReader reader;
  if (t_connection == nullptr || !reader.open(src, filter).ok()) return false;
  std::uint64_t sent = after;
  std::string buf;
  for (;;) {
    if (stopping) {
      sink.done();
      return true;
    }
    const io::Entry* e = nullptr;
    Status st;
    while ((st = reader.next(&e)).ok() && e != nullptr) {
      append_run_event(*e, reader.context(), &buf);
      sent = e->seq();
      if (buf.size() >= kWriteChunk) {
        if (!write(buf)) return false;
        buf.clear();
      }
    }
    if (!st.ok() || !write(buf)) return false;
    buf.clear();
    if (reader.finished()) {
      if (!write(kEndEvent)) return false;
      sink.done();
      return true;
    }
    auto follower = std::make_unique<Follower>();
    follower->fd = t_connection->fd;
    follower->slot = slot;
    follower->sent = sent;
    if (attach(dir, &follower)) {
      // The socket is the hub's now: cpp-httplib ends this response without
      // another byte, and the connection loop leaves the socket open.
      t_connection->adopted = true;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the hub is ahead (or closing): read on
    if (!reader.refresh().ok()) return false;
  }
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// SSE of a conversation: few clients each, so each polls on its own.

bool LogServer::Impl::stream_conversation(const std::string& dir, std::uint64_t after, httplib::DataSink& sink) {
  io::RunWatcher watcher;
  (void)watcher.open(dir);
  std::uint64_t sent = after;
  auto quiet_since = std::chrono::steady_clock::now();
  std::string buf;
  io::LogReader reader;
  const io::Source source = io::conversation_source(dir);
  while (!stopping) {
    // Opened again each round from the last seq sent: found by bisection, and
    // every round sees the writer's lock and durable.seq afresh.
    io::ReadFilter filter;
    filter.after = sent;
    Status st = reader.open(source, filter);
    std::uint64_t last = sent;
    const io::Entry* e = nullptr;
    while (st.ok() && (st = reader.next(&e)).ok() && e != nullptr) {
      buf += "id: ";
      buf += std::to_string(e->seq());
      buf += "\ndata: ";
      io::append_stored(*e, &buf);
      buf += '\n';
      last = e->seq();
    }
    if (!st.ok()) return false;
    sent = last;
    const auto now = std::chrono::steady_clock::now();
    if (buf.empty() && now - quiet_since >= std::chrono::seconds(opt.keepalive_seconds)) buf = kKeepalive;
    if (!buf.empty()) {
      if (!sink.write(buf.data(), buf.size())) return false;
      buf.clear();
      quiet_since = now;
    }
    bool interrupted = false;
    (void)watcher.wait(200, stop_pipe[0], &interrupted);
  }
  sink.done();
  return true;
}

}  // namespace runlog::tools

