// tests/support/http_client.h — what the `runlog serve` tests and the serve
// benchmark need to talk to a server on loopback: the binary started on a free
// port, raw HTTP/1.1 requests (any target, any method, byte for byte), and an
// SSE reader that decodes the chunked body incrementally.
//
// Threads: each object is used by one thread at a time.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace runlog::testing {

/// `runlog serve ARGS --listen 127.0.0.1:0`, started and stopped with the object.
class ServeProcess {
 public:
  ServeProcess(const std::string& binary, std::vector<std::string> args) {
    args.insert(args.begin(), {binary, "serve"});
    args.push_back("--listen");
    args.push_back("127.0.0.1:0");
    int out[2];  // stderr is this process's: a sanitizer's report shows in the test's output
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlives a test that died
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_fd_ = out[0];
    // "listening on http://127.0.0.1:PORT/\n"
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t colon = line.rfind(':');
    if (line.rfind("listening on http://", 0) == 0 && colon != std::string::npos) port_ = std::atoi(line.c_str() + colon + 1);
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// SIGTERM, then waits up to `timeout` (SIGKILL after). The exit code, or
  /// -1 when killed or not started.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        status = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exit_code_ = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

/// A TCP connection to 127.0.0.1:port (-1 on failure).
inline int ConnectLoopback(int port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Decodes a chunked body as it arrives. feed() returns false on a malformed stream.
class Dechunker {
 public:
  bool feed(std::string_view in, std::string* out) {
    buf_.append(in);
    for (;;) {
      if (done_) return true;
      if (left_ == 0) {
        const std::size_t nl = buf_.find("\r\n", pos_);
        if (nl == std::string::npos) break;
        if (need_crlf_) {
          if (nl != pos_) return false;
          pos_ = nl + 2;
          need_crlf_ = false;
          continue;
        }
        const std::string size_line = buf_.substr(pos_, nl - pos_);
        char* end = nullptr;
        const unsigned long n = std::strtoul(size_line.c_str(), &end, 16);
        if (end == size_line.c_str()) return false;
        pos_ = nl + 2;
        if (n == 0) {
          done_ = true;
          return true;
        }
        left_ = n;
      }
      const std::size_t take = std::min(left_, buf_.size() - pos_);
      if (take == 0) break;
      out->append(buf_, pos_, take);
      pos_ += take;
      left_ -= take;
      if (left_ == 0) need_crlf_ = true;
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    return true;
  }
  /// The terminating zero-length chunk has been seen.
  bool done() const { return done_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t left_ = 0;
  bool need_crlf_ = false;
  bool done_ = false;
};

struct HttpResponse {
  int status = 0;        ///< 0: no response
  std::string headers;   ///< the header block, as sent
  std::string body;      ///< decoded (chunked or Content-Length)
  bool complete = false; ///< the body ended as announced
  /// The value of a header (case-insensitive name), or nullopt.
  std::optional<std::string> header(std::string_view name) const {
    std::size_t from = 0;
    while (from < headers.size()) {
      std::size_t nl = headers.find("\r\n", from);
      if (nl == std::string::npos) nl = headers.size();
      std::string_view line(headers.data() + from, nl - from);
      const std::size_t colon = line.find(':');
      if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return std::string(v);
      }
      from = nl + 2;
    }
    return std::nullopt;
  }
};

/// One request on its own connection (Connection: close), the target sent as is.
inline HttpResponse HttpRequest(int port, std::string_view method, std::string_view target,
                                std::string_view extra_headers = "") {
  HttpResponse r;
  int fd = ConnectLoopback(port);
  if (fd < 0) return r;
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  req += extra_headers;
  req += "\r\n";
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!SendAll(fd, req)) {
    ::close(fd);
    return r;
  }
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  const std::size_t first_nl = raw.find("\r\n");
  r.headers = raw.substr(first_nl + 2, head_end - first_nl - 2);
  std::string_view rest(raw.data() + head_end + 4, raw.size() - head_end - 4);
  auto te = r.header("Transfer-Encoding");
  if (te && *te == "chunked") {
    Dechunker d;
    r.complete = d.feed(rest, &r.body) && d.done();
  } else {
    r.body = std::string(rest);
    auto cl = r.header("Content-Length");
    r.complete = !cl || std::to_string(r.body.size()) == *cl || method == "HEAD";
  }
  return r;
}

inline HttpResponse HttpGet(int port, std::string_view target, std::string_view extra_headers = "") {
  return HttpRequest(port, "GET", target, extra_headers);
}

struct SseEvent {
  std::string id;     ///< empty when the event had none
  std::string event;  ///< empty: "message"
  std::string data;
};

/// An open SSE stream: GET target, then next() event by event.
class SseStream {
 public:
  SseStream(int port, const std::string& target, const std::string& extra_headers = "", int rcvbuf = 0) {
    fd_ = ConnectLoopback(port, rcvbuf);
    if (fd_ < 0) return;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + extra_headers + "\r\n";
    if (!SendAll(fd_, req)) close();
  }
  ~SseStream() { close(); }
  SseStream(const SseStream&) = delete;
  SseStream& operator=(const SseStream&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  int status() const { return status_; }
  /// The server ended the body (zero-length chunk) or closed the connection.
  bool ended() const { return ended_; }
  bool clean_end() const { return dechunk_.done(); }

  /// The next whole event, waiting at most `timeout`; nullopt on timeout or end.
  std::optional<SseEvent> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto e = take()) return e;
      if (ended_ || fd_ < 0) return std::nullopt;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
      if (::poll(&p, 1, std::max(1, ms)) <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        ended_ = true;
        continue;
      }
      if (!feed(std::string_view(buf, static_cast<std::size_t>(n)))) ended_ = true;
    }
  }

 private:
  bool feed(std::string_view in) {
    if (!headers_done_) {
      head_.append(in);
      const std::size_t end = head_.find("\r\n\r\n");
      if (end == std::string::npos) return true;
      if (head_.rfind("HTTP/1.1 ", 0) == 0) status_ = std::atoi(head_.c_str() + 9);
      headers_done_ = true;
      std::string rest = head_.substr(end + 4);
      chunked_ = head_.substr(0, end).find("Transfer-Encoding: chunked") != std::string::npos;
      if (!chunked_) {
        text_ += rest;
        return true;
      }
      in = rest;
      bool ok = dechunk_.feed(in, &text_);
      if (dechunk_.done()) ended_ = true;
      return ok;
    }
    if (!chunked_) {
      text_.append(in);
      return true;
    }
    bool ok = dechunk_.feed(in, &text_);
    if (dechunk_.done()) ended_ = true;
    return ok;
  }
  std::optional<SseEvent> take() {
    for (;;) {
      const std::size_t end = text_.find("\n\n", pos_);
      if (end == std::string::npos) {
        text_.erase(0, pos_);
        pos_ = 0;
        return std::nullopt;
      }
      std::string_view block(text_.data() + pos_, end - pos_);
      pos_ = end + 2;
      SseEvent e;
      bool any = false;
      std::size_t from = 0;
      while (from <= block.size()) {
        std::size_t nl = block.find('\n', from);
        if (nl == std::string_view::npos) nl = block.size();
        std::string_view line = block.substr(from, nl - from);
        from = nl + 1;
        if (line.empty() || line[0] == ':') continue;
        const std::size_t colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        any = true;
        if (field == "id") e.id = value;
        else if (field == "event") e.event = value;
        else if (field == "data") e.data += std::string(value);
      }
      if (any) return e;
    }
  }

  int fd_ = -1;
  int status_ = 0;
  bool headers_done_ = false, chunked_ = false, ended_ = false;
  std::string head_, text_;
  std::size_t pos_ = 0;
  Dechunker dechunk_;
};

}  // namespace runlog::testing
