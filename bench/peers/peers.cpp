#include "bench/peers/peers.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#ifdef RUNLOG_BENCH_HAVE_SPDLOG
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#endif
#include <simdjson.h>

namespace runlog::bench {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// An fd that closes itself.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Result<int> open_new(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  return fd;
}

Status write_all(int fd, const char* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::OK();
}

Status datasync(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return Status::FromErrno(errno, "fdatasync " + path);
  return Status::OK();
}

// Runs body(t, first_error) on `producers` threads; record i belongs to
// producer i % producers. Returns the first error any of them reported.
template <class Body>
Status run_producers(int producers, Body body) {
  std::mutex mu;
  Status first;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      Status st = body(t, failed);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = st;
        failed.store(true);
      }
    });
  }
  for (auto& th : threads) th.join();
  return first;
}

}  // namespace

#ifdef RUNLOG_BENCH_HAVE_SPDLOG
Result<PeerResult> spdlog_async(const LinePool& pool, std::uint64_t records, int producers, const std::string& path) {
  PeerResult r;
  try {
    auto tp = std::make_shared<spdlog::details::thread_pool>(8192, 1);
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
    auto logger = std::make_shared<spdlog::async_logger>("bench", std::move(sink), tp, spdlog::async_overflow_policy::block);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    const std::size_t k = pool.lines.size();
    const auto t0 = Clock::now();
    Status st = run_producers(producers, [&](int t, std::atomic<bool>&) {
      for (std::uint64_t i = static_cast<std::uint64_t>(t); i < records; i += static_cast<std::uint64_t>(producers)) {
        const std::string& line = pool.lines[i % k];
        logger->log(spdlog::level::info, spdlog::string_view_t(line.data(), line.size() - 1));
      }
      return Status::OK();
    });
    if (!st.ok()) return st;
    logger->flush();  // posted after every line: the worker flushes the sink's FILE* last
    logger.reset();
    tp.reset();  // drains the queue, joins the worker; the last message drops the sink (fclose)
    r.seconds = since(t0);
  } catch (const std::exception& e) {
    return Status(Errc::io_error, 0, fmt::format("spdlog {}: {}", path, e.what()));
  }
  r.records = records;
  for (std::uint64_t i = 0; i < records; ++i) r.bytes += pool.lines[i % pool.lines.size()].size();
  return r;
}
#else
Result<PeerResult> spdlog_async(const LinePool&, std::uint64_t, int, const std::string&) {
  return Status(Errc::not_found, 0, "built without spdlog: apt-get install libspdlog-dev, then reconfigure");
}
#endif

Result<PeerResult> naive_fsync_per_record(const LinePool& pool, std::uint64_t records, int producers,
                                          const std::string& path) {
  auto opened = open_new(path);
  if (!opened.ok()) return opened.status();
  Fd fd(opened.value());
  std::mutex mu;
  const std::size_t k = pool.lines.size();
  const auto t0 = Clock::now();
  Status st = run_producers(producers, [&](int t, std::atomic<bool>& failed) {
    for (std::uint64_t i = static_cast<std::uint64_t>(t); i < records && !failed.load(); i += static_cast<std::uint64_t>(producers)) {
      const std::string& line = pool.lines[i % k];
      std::lock_guard<std::mutex> lock(mu);
      if (Status s = write_all(fd.fd, line.data(), line.size(), path); !s.ok()) return s;
      if (Status s = datasync(fd.fd, path); !s.ok()) return s;
    }
    return Status::OK();
  });
  if (!st.ok()) return st;
  PeerResult r;
  r.seconds = since(t0);
  r.records = records;
  r.fsyncs = records;
  for (std::uint64_t i = 0; i < records; ++i) r.bytes += pool.lines[i % k].size();
  return r;
}

Result<PeerResult> naive_periodic_fsync(const LinePool& pool, std::uint64_t records, int producers,
                                        const std::string& path) {
  constexpr std::size_t kBuffer = std::size_t{64} << 10;
  constexpr auto kPeriod = std::chrono::milliseconds(1);
  auto opened = open_new(path);
  if (!opened.ok()) return opened.status();
  Fd fd(opened.value());
  std::mutex mu;
  std::string buffer;  // protected by mu
  buffer.reserve(2 * kBuffer);
  std::uint64_t fsyncs = 0;  // protected by mu
  auto last_sync = Clock::now();  // protected by mu
  const std::size_t k = pool.lines.size();
  const auto t0 = Clock::now();
  Status st = run_producers(producers, [&](int t, std::atomic<bool>& failed) {
    for (std::uint64_t i = static_cast<std::uint64_t>(t); i < records && !failed.load(); i += static_cast<std::uint64_t>(producers)) {
      const std::string& line = pool.lines[i % k];
      std::lock_guard<std::mutex> lock(mu);
      buffer += line;
      const auto now = Clock::now();
      const bool sync = now - last_sync >= kPeriod;
      if (buffer.size() >= kBuffer || sync) {
        if (Status s = write_all(fd.fd, buffer.data(), buffer.size(), path); !s.ok()) return s;
        buffer.clear();
      }
      if (sync) {
        if (Status s = datasync(fd.fd, path); !s.ok()) return s;
        ++fsyncs;
        last_sync = Clock::now();
      }
    }
    return Status::OK();
  });
  if (!st.ok()) return st;
  if (Status s = write_all(fd.fd, buffer.data(), buffer.size(), path); !s.ok()) return s;
  if (Status s = datasync(fd.fd, path); !s.ok()) return s;
  PeerResult r;
  r.seconds = since(t0);
  r.records = records;
  r.fsyncs = fsyncs + 1;
  for (std::uint64_t i = 0; i < records; ++i) r.bytes += pool.lines[i % k].size();
  return r;
}

Result<PeerResult> disk_sequential(const LinePool& pool, std::uint64_t bytes, const std::string& path) {
  constexpr std::size_t kWrite = std::size_t{1} << 20;
  constexpr std::uint64_t kSyncEvery = std::uint64_t{4} << 20;
  std::string block;
  block.reserve(kWrite + 4096);
  for (std::size_t i = 0; block.size() < kWrite; ++i) block += pool.lines[i % pool.lines.size()];
  block.resize(kWrite);
  auto opened = open_new(path);
  if (!opened.ok()) return opened.status();
  Fd fd(opened.value());
  PeerResult r;
  std::uint64_t unsynced = 0;
  const auto t0 = Clock::now();
  while (r.bytes < bytes) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kWrite, bytes - r.bytes));
    if (Status s = write_all(fd.fd, block.data(), n, path); !s.ok()) return s;
    r.bytes += n;
    unsynced += n;
    if (unsynced >= kSyncEvery || r.bytes == bytes) {
      if (Status s = datasync(fd.fd, path); !s.ok()) return s;
      ++r.fsyncs;
      unsynced = 0;
    }
  }
  r.seconds = since(t0);
  return r;
}

Result<PeerResult> fdatasync_append(std::uint64_t samples, const std::string& path) {
  auto opened = open_new(path);
  if (!opened.ok()) return opened.status();
  Fd fd(opened.value());
  std::string page(4096, 'x');
  page.back() = '\n';
  std::vector<double> us;
  us.reserve(samples);
  PeerResult r;
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < samples; ++i) {
    const auto a = Clock::now();
    if (Status s = write_all(fd.fd, page.data(), page.size(), path); !s.ok()) return s;
    if (Status s = datasync(fd.fd, path); !s.ok()) return s;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  r.seconds = since(t0);
  r.records = samples;
  r.bytes = samples * page.size();
  r.fsyncs = samples;
  r.p50_us = quantile(us, 0.50);
  r.p99_us = quantile(us, 0.99);
  r.p999_us = quantile(us, 0.999);
  r.max_us = us.empty() ? 0 : us.back();
  return r;
}

Result<PeerResult> fdatasync_files(int files, int threads, std::uint64_t rounds, const std::string& dir) {
  std::vector<std::unique_ptr<Fd>> fds;
  std::vector<std::string> paths;
  for (int i = 0; i < files; ++i) {
    paths.push_back(fmt::format("{}/f{:03}.jsonl", dir, i));
    auto opened = open_new(paths.back());
    if (!opened.ok()) return opened.status();
    fds.push_back(std::make_unique<Fd>(opened.value()));
  }
  std::string page(4096, 'y');
  page.back() = '\n';
  std::vector<double> us;
  PeerResult r;
  const auto t0 = Clock::now();
  for (std::uint64_t round = 0; round < rounds; ++round) {
    for (int i = 0; i < files; ++i) {
      if (Status s = write_all(fds[i]->fd, page.data(), page.size(), paths[i]); !s.ok()) return s;
    }
    const auto a = Clock::now();
    std::atomic<int> next{0};
    Status st = run_producers(threads, [&](int, std::atomic<bool>& failed) {
      while (!failed.load()) {
        const int i = next.fetch_add(1);
        if (i >= files) break;
        if (Status s = datasync(fds[i]->fd, paths[i]); !s.ok()) return s;
      }
      return Status::OK();
    });
    if (!st.ok()) return st;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  r.seconds = since(t0);
  r.records = rounds;
  r.bytes = rounds * static_cast<std::uint64_t>(files) * page.size();
  r.fsyncs = rounds * static_cast<std::uint64_t>(files);
  r.p50_us = quantile(us, 0.50);
  r.p99_us = quantile(us, 0.99);
  r.p999_us = quantile(us, 0.999);
  r.max_us = us.empty() ? 0 : us.back();
  return r;
}

Result<PeerResult> node_writer(const std::string& pool_path, std::uint64_t records, int runs, int fsync_every,
                               const std::string& dir) {
  const std::string script = std::string(RUNLOG_BENCH_PEERS_DIR) + "/ts_runner.mjs";
  std::vector<std::string> args = {knobs().node,        script,     "--pool",        pool_path,
                                   "--records",         fmt::format("{}", records),   "--runs",
                                   fmt::format("{}", runs), "--out", dir,             "--fsync-every",
                                   fmt::format("{}", fsync_every)};
  auto out = run_capture(args);
  if (!out.ok()) return out.status();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  PeerResult r;
  std::int64_t rec = 0, bytes = 0, fsyncs = 0;
  if (parser.parse(out.value()).get(doc) || doc["records"].get(rec) || doc["bytes"].get(bytes) ||
      doc["seconds"].get(r.seconds) || doc["fsyncs"].get(fsyncs)) {
    return Status(Errc::io_error, 0, fmt::format("{}: unexpected output: {}", script, out.value()));
  }
  r.records = static_cast<std::uint64_t>(rec);
  r.bytes = static_cast<std::uint64_t>(bytes);
  r.fsyncs = static_cast<std::uint64_t>(fsyncs);
  return r;
}

}  // namespace runlog::bench
