// tools/serve/server.cpp — see server.h; the endpoints are in docs/serve.md.
#include "tools/serve/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
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
constexpr std::size_t kExtraThreads = 32;
constexpr std::chrono::milliseconds kHubInterval{10};  // a hub publishes at most this often  // the pool beyond max_streams: short requests, idle keep-alives

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
// Live runs: one hub per followed run, a bounded queue per client.

namespace {

/// Encoded SSE events of consecutive seqs, shared by every client's queue.
struct Batch {
  std::string text;
  std::vector<std::pair<std::uint64_t, std::size_t>> events;  ///< (seq, end offset in text)
  bool end = false;  ///< the run is closed and this batch holds its last records
};

/// One SSE client of a hub. Its queue is filled by the hub thread and drained
/// by the client's connection thread.
struct Subscriber {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::shared_ptr<const Batch>> queue;
  std::size_t bytes = 0;
  bool overflow = false;  ///< fell too far behind: the stream is closed, the client resumes by Last-Event-ID
  bool broken = false;    ///< the hub hit an error reading the run
};

struct Hub {
  explicit Hub(std::string d, std::uint64_t p) : dir(std::move(d)), pos(p) {}
  const std::string dir;
  std::mutex m;
  std::uint64_t pos;  ///< the highest seq handed to the subscribers
  bool finished = false;
  std::vector<Subscriber*> subs;
};

}  // namespace

struct LogServer::Impl {
  ServeOptions opt;
  httplib::Server http;
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

  std::mutex subs_m;  // every live run subscriber, to wake them on stop()
  std::vector<Subscriber*> all_subs;

  explicit Impl(ServeOptions o) : opt(std::move(o)) {}

  // --- routing -------------------------------------------------------------
  void handle(const httplib::Request& req, httplib::Response& res);
  void route_runs(const std::vector<std::string>& segs, const httplib::Request& req, httplib::Response& res);
  void route_conversations(const std::vector<std::string>& segs, const httplib::Request& req, httplib::Response& res);
  bool query_number(const httplib::Request& req, const char* name, std::uint64_t* out, httplib::Response& res);
  bool resume_point(const httplib::Request& req, std::uint64_t* after, httplib::Response& res);
  bool take_stream_slot(httplib::Response& res, std::shared_ptr<void>* slot);

  // --- streams -------------------------------------------------------------
  bool stream_run(const std::string& dir, std::uint64_t after, httplib::DataSink& sink);
  bool stream_conversation(const std::string& dir, std::uint64_t after, httplib::DataSink& sink);
  std::shared_ptr<Hub> attach(const std::string& dir, std::uint64_t sent, Subscriber* sub);
  void detach(const std::shared_ptr<Hub>& hub, Subscriber* sub);
  void hub_loop(const std::shared_ptr<Hub>& hub);
  void publish(Hub& hub, const std::shared_ptr<const Batch>& batch, bool broken);
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
  {
    std::lock_guard<std::mutex> l(s.subs_m);
    for (Subscriber* sub : s.all_subs) {
      std::lock_guard<std::mutex> sl(sub->m);
      sub->cv.notify_all();
    }
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

// SSE: Last-Event-ID wins over ?after= (a reconnecting EventSource sends it).
bool LogServer::Impl::resume_point(const httplib::Request& req, std::uint64_t* after, httplib::Response& res) {
  if (!query_number(req, "after", after, res)) return false;
  if (req.has_header("Last-Event-ID")) {
    if (!parse_u64(req.get_header_value("Last-Event-ID"), after)) {
      send_error(res, 400, "Last-Event-ID takes a seq");
      return false;
    }
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
  if (what == "events") {
    std::uint64_t after = 0;
    if (!resume_point(req, &after, res)) return;
    std::shared_ptr<void> slot;
    if (!take_stream_slot(res, &slot)) return;
    res.set_header("X-Accel-Buffering", "no");
    res.set_header("Connection", "close");  // a stream's thread is not kept for another request
    res.set_chunked_content_provider("text/event-stream", [this, dir, after, slot](std::size_t, httplib::DataSink& sink) {
      return stream_run(dir, after, sink);
    });
    return;
  }
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
  if (what == "events") {
    std::uint64_t after = 0;
    if (!resume_point(req, &after, res)) return;
    std::shared_ptr<void> slot;
    if (!take_stream_slot(res, &slot)) return;
    res.set_header("X-Accel-Buffering", "no");
    res.set_header("Connection", "close");
    res.set_chunked_content_provider("text/event-stream", [this, dir, after, slot](std::size_t, httplib::DataSink& sink) {
      return stream_conversation(dir, after, sink);
    });
    return;
  }
  send_error(res, 404, "no such endpoint");
}

// ---------------------------------------------------------------------------
// SSE of a run

std::shared_ptr<Hub> LogServer::Impl::attach(const std::string& dir, std::uint64_t sent, Subscriber* sub) {
  std::unique_lock<std::mutex> l(hubs_m);
  std::shared_ptr<Hub>& slot = hubs[dir];
  if (!slot) {
    slot = std::make_shared<Hub>(dir, sent);
    ++hub_threads;
    std::shared_ptr<Hub> hub = slot;
    std::thread([this, hub] { hub_loop(hub); }).detach();  // counted in hub_threads; the destructor waits
  }
  std::shared_ptr<Hub> hub = slot;
  std::lock_guard<std::mutex> hl(hub->m);
  if (hub->finished || hub->pos > sent) return nullptr;  // read on from the files first
  hub->subs.push_back(sub);
  return hub;
}

void LogServer::Impl::detach(const std::shared_ptr<Hub>& hub, Subscriber* sub) {
  std::lock_guard<std::mutex> hl(hub->m);
  hub->subs.erase(std::remove(hub->subs.begin(), hub->subs.end(), sub), hub->subs.end());
}

void LogServer::Impl::publish(Hub& hub, const std::shared_ptr<const Batch>& batch, bool broken) {
  // REQUIRES: hub.m held. Never waits for a client.
  for (Subscriber* sub : hub.subs) {
    std::lock_guard<std::mutex> sl(sub->m);
    if (broken) sub->broken = true;
    else if (sub->overflow) continue;
    else if (sub->bytes + batch->text.size() > opt.client_buffer && !sub->queue.empty()) {
      sub->overflow = true;  // too far behind: dropped, it resumes by Last-Event-ID
      sub->queue.clear();
      sub->bytes = 0;
    } else {
      sub->queue.push_back(batch);
      sub->bytes += batch->text.size();
    }
    sub->cv.notify_one();
  }
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
  auto published = std::chrono::steady_clock::now() - kHubInterval;
  while (!stopping) {
    auto batch = std::make_shared<Batch>();
    const io::Entry* e = nullptr;
    std::uint64_t last = 0;
    while (st.ok() && (st = reader.next(&e)).ok() && e != nullptr) {
      append_run_event(*e, reader.context(), &batch->text);
      batch->events.emplace_back(e->seq(), batch->text.size());
      last = e->seq();
    }
    const bool broken = !st.ok();
    const bool fin = broken || reader.finished();
    batch->end = fin && !broken;
    {
      std::lock_guard<std::mutex> hl(hub->m);
      if (last) hub->pos = last;
      if (!batch->events.empty() || fin) {
        publish(*hub, batch, broken);
        published = std::chrono::steady_clock::now();
      }
      if (fin) hub->finished = true;
    }
    if (fin) break;
    {
      std::lock_guard<std::mutex> l(hubs_m);
      std::lock_guard<std::mutex> hl(hub->m);
      if (hub->subs.empty()) {  // nobody left to follow for
        hub->finished = true;
        break;
      }
    }
    bool interrupted = false;
    (void)watcher.wait(200, stop_pipe[0], &interrupted);
    if (interrupted) break;
    // Every publish wakes every client's thread: take what lands within
    // kHubInterval together (at most that much latency, far fewer wake-ups).
    const auto since = std::chrono::steady_clock::now() - published;
    if (since < kHubInterval) std::this_thread::sleep_for(kHubInterval - since);
    st = reader.refresh();
  }
  std::lock_guard<std::mutex> l(hubs_m);
  {
    std::lock_guard<std::mutex> hl(hub->m);
    hub->finished = true;
  }
  auto it = hubs.find(hub->dir);
  if (it != hubs.end() && it->second == hub) hubs.erase(it);
  --hub_threads;
  hubs_cv.notify_all();
}

bool LogServer::Impl::stream_run(const std::string& dir, std::uint64_t after, httplib::DataSink& sink) {
  auto write = [&sink](std::string_view s) { return s.empty() || sink.write(s.data(), s.size()); };
  io::Source src;
  src.dir = dir;
  io::ReadFilter filter;
  filter.after = after;
  io::LogReader reader;
  if (!reader.open(src, filter).ok()) return false;
  std::uint64_t sent = after;
  Subscriber sub;
  {
    std::lock_guard<std::mutex> l(subs_m);
    all_subs.push_back(&sub);
  }
  struct Unlist {
    Impl* self;
    Subscriber* sub;
    ~Unlist() {
      std::lock_guard<std::mutex> l(self->subs_m);
      self->all_subs.erase(std::remove(self->all_subs.begin(), self->all_subs.end(), sub), self->all_subs.end());
    }
  } unlist{this, &sub};

  // Catch up from the files on this connection's own reader, then join the
  // run's hub at the seq it has reached.
  std::shared_ptr<Hub> hub;
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
    if ((hub = attach(dir, sent, &sub))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the hub is ahead (or closing): read on
    if (!reader.refresh().ok()) return false;
  }
  struct Detach {
    Impl* self;
    std::shared_ptr<Hub> hub;
    Subscriber* sub;
    ~Detach() { self->detach(hub, sub); }
  } detach_guard{this, hub, &sub};

  std::vector<std::shared_ptr<const Batch>> take;
  for (;;) {
    bool overflow = false, broken = false;
    {
      std::unique_lock<std::mutex> l(sub.m);
      sub.cv.wait_for(l, std::chrono::seconds(opt.keepalive_seconds),
                      [&] { return !sub.queue.empty() || sub.overflow || sub.broken || stopping; });
      take.assign(sub.queue.begin(), sub.queue.end());
      sub.queue.clear();
      sub.bytes = 0;
      overflow = sub.overflow;
      broken = sub.broken;
    }
    if (broken) return false;
    if (stopping || overflow) {
      sink.done();  // a clean end: the client reconnects with Last-Event-ID
      return true;
    }
    if (take.empty() && !write(kKeepalive)) return false;
    for (const auto& b : take) {
      // Skip what the catch-up read already sent.
      std::size_t from = 0;
      for (const auto& [seq, end] : b->events) {
        if (seq > sent) break;
        from = end;
      }
      if (!b->events.empty() && b->events.back().first > sent) {
        if (!write(std::string_view(b->text).substr(from))) return false;
        sent = b->events.back().first;
      }
      if (b->end) {
        if (!write(kEndEvent)) return false;
        sink.done();
        return true;
      }
    }
    take.clear();
  }
}

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
