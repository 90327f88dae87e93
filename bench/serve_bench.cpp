// bench/serve_bench.cpp — `runlog serve` under load: many SSE clients on
// loopback follow one live run written by the engine in W1's mix (100-byte
// chunks: 90% stdout, 9% stderr, 1% lifecycle), paced. Every client must get
// every record once and in order, then `end`; the figures are the latency from
// "durable" (the engine's acknowledgement) to "delivered" (parsed by the
// client), and the server's peak RSS.
//
// Sizes (environment; defaults are smoke-sized):
//   RUNLOG_BENCH_SERVE_CLIENTS  SSE clients                 50
//   RUNLOG_BENCH_SERVE_RECORDS  records pushed while they follow   300
//   RUNLOG_BENCH_SERVE_RATE     records per second                 300
//   RUNLOG_BENCH_SERVE_CLI      the runlog binary that serves      this build's
//
// Besides the latencies it reports the CPU time the server and the client
// thread used while the records were pushed: both share the machine's cores.
//
// Threads: the benchmark thread, one client thread (epoll over every socket),
// one producer and one acknowledgement thread; the server is another process.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/peers/support.h"
#include "runlog/engine.h"
#include "tests/support/http_client.h"

namespace runlog::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// A field of /proc/PID/status ("VmHWM:" in kB, "Threads:"), as a number.
std::uint64_t status_field(pid_t pid, std::string_view name) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name, 0) == 0) return std::strtoull(line.c_str() + name.size(), nullptr, 10);
  return 0;
}

// CPU seconds (user + system) another process has used so far.
double cpu_seconds_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::strtod(f.c_str(), nullptr);  // utime, stime
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Client {
  int fd = -1;
  bool headers = false;
  bool ended = false;    // got `event: end`
  bool broken = false;   // a gap, a duplicate or a bad stream
  std::string head, text;
  testing::Dechunker dechunk;
  std::uint64_t last = 0;
  std::vector<std::int64_t> arrival;  // [seq] = when parsed (ns)

  void feed(std::string_view in, std::int64_t t) {
    if (!headers) {
      head.append(in);
      const std::size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) return;
      headers = true;
      if (head.rfind("HTTP/1.1 200", 0) != 0) broken = true;
      in = std::string_view(head).substr(end + 4);
      if (!dechunk.feed(in, &text)) broken = true;
      head.clear();
    } else if (!dechunk.feed(in, &text)) {
      broken = true;
    }
    std::size_t from = 0;
    for (;;) {
      const std::size_t end = text.find("\n\n", from);
      if (end == std::string::npos) break;
      std::string_view ev(text.data() + from, end - from);
      from = end + 2;
      if (ev.rfind("id: ", 0) == 0) {
        const std::uint64_t seq = std::strtoull(ev.data() + 4, nullptr, 10);
        if (seq != last + 1) broken = true;
        last = seq;
        if (seq < arrival.size()) arrival[seq] = t;
      } else if (ev.rfind("event: end", 0) == 0) {
        ended = true;
      }
    }
    text.erase(0, from);
  }
};

void BM_ServeFollow(benchmark::State& state) {
  const std::size_t clients = env_u64("RUNLOG_BENCH_SERVE_CLIENTS", 50);
  const std::uint64_t records = env_u64("RUNLOG_BENCH_SERVE_RECORDS", 300);
  const double rate = static_cast<double>(env_u64("RUNLOG_BENCH_SERVE_RATE", 300));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  for (auto _ : state) {
    Scratch scratch("serve");
    Options o;
    o.runsRoot = scratch / "runs";
    o.durability = Durability::batch;
    auto engine = Engine::open(o);
    if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
    RunMetadata meta;
    meta.taskId = "serve";
    meta.runId = "w1";
    meta.stepId = "step";
    meta.stepName = "bench";
    meta.workerKind = "bench";
    auto run = engine.value()->open_run(meta);
    if (!run.ok()) return state.SkipWithError(run.status().to_string().c_str());
    Producer producer(*engine.value());
    const std::uint64_t total = records + 2;  // the first record, the pushed ones, step_completed
    std::vector<std::atomic<std::int64_t>> durable_at(total + 1);
    {
      auto t = producer.push_event(run.value(), {EventType::worker_started, LogLevel::info, "started", ""});
      if (!t.ok() || !run.value().flush().ok()) return state.SkipWithError("first record");
    }

    const char* cli = std::getenv("RUNLOG_BENCH_SERVE_CLI");
    testing::ServeProcess server(cli && *cli ? cli : RUNLOG_CLI_PATH, {"--runs-root", o.runsRoot, "--max-streams",
                                                   std::to_string(clients + 16)});
    if (server.port() <= 0) return state.SkipWithError("runlog serve did not start");
    std::vector<Client> cs(clients);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < clients; ++i) {
      Client& c = cs[i];
      c.arrival.assign(total + 1, 0);
      c.fd = testing::ConnectLoopback(server.port());
      if (c.fd < 0 || !testing::SendAll(c.fd, "GET /api/runs/serve/w1/events HTTP/1.1\r\nHost: b\r\n\r\n"))
        return state.SkipWithError(fmt::format("client {} could not connect", i).c_str());
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    std::atomic<bool> stop_clients{false};
    std::atomic<std::size_t> ended{0}, started{0};
    std::atomic<bool> pushing_now{false};
    double client_cpu = 0;  // the reader thread's CPU seconds while the records were pushed
    std::thread reader([&] {
      double cpu_at_push = -1;
      std::vector<epoll_event> evs(256);
      std::string buf(1 << 16, '\0');
      while (!stop_clients) {
        const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 50);
        if (cpu_at_push < 0 && pushing_now) cpu_at_push = thread_cpu_seconds();
        for (int k = 0; k < n; ++k) {
          Client& c = cs[evs[static_cast<std::size_t>(k)].data.u64];
          const ssize_t got = ::recv(c.fd, buf.data(), buf.size(), MSG_DONTWAIT);
          if (got <= 0) {
            if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
              ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
              if (!c.ended) c.broken = true;
            }
            continue;
          }
          const bool had_first = c.last >= 1, had_end = c.ended;
          c.feed(std::string_view(buf.data(), static_cast<std::size_t>(got)), now_ns());
          if (!had_first && c.last >= 1) ++started;
          if (!had_end && c.ended) ++ended;
        }
        if (cpu_at_push >= 0 && ended == cs.size() && client_cpu == 0) client_cpu = thread_cpu_seconds() - cpu_at_push;
      }
    });
    auto wait_for = [](const std::atomic<std::size_t>& n, std::size_t want, std::chrono::seconds limit) {
      const auto deadline = Clock::now() + limit;
      while (n < want && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return n >= want;
    };
    if (!wait_for(started, clients, std::chrono::seconds(120))) {
      stop_clients = true;
      reader.join();
      return state.SkipWithError(fmt::format("only {} of {} clients got the first record", started.load(), clients).c_str());
    }

    // The acknowledgements, in order, on their own thread: "durable" times.
    std::mutex m;
    std::condition_variable cv;
    std::deque<Ticket> tickets;
    bool pushing = true;
    std::atomic<bool> failed{false};
    std::thread acker([&] {
      for (;;) {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return !tickets.empty() || !pushing; });
        if (tickets.empty()) return;
        Ticket t = std::move(tickets.front());
        tickets.pop_front();
        l.unlock();
        auto seq = t.wait();
        if (!seq.ok() || seq.value() > total) {
          failed = true;
          continue;
        }
        durable_at[seq.value()] = now_ns();
      }
    });
    const double server_cpu_at_push = cpu_seconds_of(server.pid());
    double load_at_push[3] = {};
    ::getloadavg(load_at_push, 3);
    pushing_now = true;
    const auto t0 = Clock::now();
    const std::string chunk(99, 'x');
    for (std::uint64_t i = 0; i < records; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * static_cast<double>(i) / rate)));
      Result<Ticket> t = i % 100 == 99 ? producer.push_event(run.value(), {EventType::step_prepared, LogLevel::info, "step", ""})
                         : i % 10 == 9 ? producer.push_stderr(run.value(), chunk + "\n")
                                       : producer.push_stdout(run.value(), chunk + "\n");
      if (!t.ok()) {
        failed = true;
        break;
      }
      std::lock_guard<std::mutex> l(m);
      tickets.push_back(std::move(t).value());
      cv.notify_one();
    }
    {
      auto t = producer.push_event(run.value(), {EventType::step_completed, LogLevel::info, "done", ""});
      if (!t.ok()) failed = true;
      else {
        std::lock_guard<std::mutex> l(m);
        tickets.push_back(std::move(t).value());
      }
      std::lock_guard<std::mutex> l(m);
      pushing = false;
      cv.notify_one();
    }
    acker.join();
    const double push_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!run.value().close().ok()) failed = true;
    const bool all_ended = wait_for(ended, clients, std::chrono::seconds(120));
    const std::uint64_t rss = status_field(server.pid(), "VmHWM:") * 1024;
    const double server_cpu = cpu_seconds_of(server.pid()) - server_cpu_at_push;
    const std::uint64_t server_threads = status_field(server.pid(), "Threads:");
    double load_after[3] = {};
    ::getloadavg(load_after, 3);
    stop_clients = true;
    reader.join();
    ::close(ep);
    for (Client& c : cs) ::close(c.fd);
    const int exit_code = server.stop();

    std::vector<double> lat;
    lat.reserve(clients * records);
    std::size_t complete = 0;
    for (const Client& c : cs) {
      if (!c.broken && c.ended && c.last == total) ++complete;
      for (std::uint64_t s = 2; s <= total; ++s) {
        const std::int64_t d = durable_at[s];
        if (d && c.arrival[s]) lat.push_back(static_cast<double>(std::max<std::int64_t>(0, c.arrival[s] - d)) / 1e6);
      }
    }
    if (failed) return state.SkipWithError("a push or an acknowledgement failed");
    if (!all_ended || complete != clients)
      return state.SkipWithError(fmt::format("{} of {} clients got every record once, in order, and `end`", complete, clients).c_str());
    if (exit_code != 0) return state.SkipWithError(fmt::format("runlog serve exited {} on SIGTERM", exit_code).c_str());
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))]; };
    state.SetIterationTime(push_seconds);
    state.counters["clients"] = static_cast<double>(clients);
    state.counters["records"] = static_cast<double>(total);
    state.counters["deliveries"] = static_cast<double>(lat.size());
    state.counters["rate_per_s"] = rate;
    state.counters["p50_ms"] = pct(0.50);
    state.counters["p99_ms"] = pct(0.99);
    state.counters["max_ms"] = lat.empty() ? 0.0 : lat.back();
    state.counters["server_peak_rss_mib"] = static_cast<double>(rss) / (1 << 20);
    state.counters["server_cpu_s"] = server_cpu;
    state.counters["server_threads"] = static_cast<double>(server_threads);
    state.counters["client_cpu_s"] = client_cpu;
    state.counters["load_before"] = load_at_push[0];
    state.counters["load_after"] = load_after[0];
  }
}
BENCHMARK(BM_ServeFollow)->Name("serve/follow")->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace runlog::bench
