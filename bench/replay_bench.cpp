// bench/replay_bench.cpp — reading runs back (io/reader.h, io/verify.h)
// against a bare simdjson iterate_many pass, jq, Node, and itself on one core
// and two.
//
// A run is generated once per process with the real engine: W1's mix (90%
// stdout and 9% stderr 100-byte chunks, 1% lifecycle events with a small data
// object), RUNLOG_BENCH_REPLAY_MB megabytes of files (default 64;
// bench/run_suite.sh's full suite uses 1024, the size of TARGETS.md), in a temp
// folder removed at exit. Before anything is timed the outputs are checked: the
// bare pass, replay in each format, summary and verify all see the generated
// number of records; the jsonl output has one line per record, in seq order;
// the raw output is exactly the bytes pushed; verify finds no problem. When
// anything is wrong every benchmark stops with an error and no figure.
//
//   RUNLOG_BENCH_REPLAY_MB=1024 build/bench/runlog_bench --benchmark_filter=Replay
//
// BM_ReplayFigures measures side by side, interleaved (RUNLOG_BENCH_REPS
// rounds, best of each), and reports the ratios TARGETS.md asks for:
//   replay_vs_bare   replay --format jsonl to /dev/null  / bare pass   (>= 0.6)
//   summary_vs_bare  summary                              / bare pass   (>= 0.9)
//   verify_vs_bare   verify (both cores)                  / bare pass   (>= 0.9)
//   replay_vs_jq     replay / jq -c .                                    (>= 20)
//   replay_vs_node   replay / Node's JSON.parse per line (peers/node_replay.mjs)
//   after_first_ms   open + first record after --after N (<= 5 ms)
//   many_speedup     1,000 runs on two threads / on one; many_2threads_cores_busy
//                    is CPU seconds per wall second meanwhile ("uses both cores")
// plus text_MBps and raw_MBps for the other formats. jq and Node read the
// whole run once per BM_ReplayFigures run (they are slow). The bare pass is
// the faster of simdjson's two iterate_many modes (stage 1 on a thread of its
// own or not).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/peers/support.h"
#include "io/reader.h"
#include "io/verify.h"
#include "runlog/engine.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kChannelFiles[3] = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
constexpr int kManyRuns = 1000;
constexpr std::uint64_t kChunkBytes = 100;  // each stdout/stderr chunk the generator pushes

// CPU seconds used by the whole process so far (every thread).
double process_cpu_seconds() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return std::strtoull(v, nullptr, 10);
}

struct Generated {
  std::string error;  // non-empty: the outputs did not check out
  std::string tmp;    // removed at exit
  std::string root;   // runs root
  std::string run;    // the big run's folder
  std::string many;   // a runs root of many small runs
  std::uint64_t records = 0;
  std::uint64_t counts[3] = {0, 0, 0};
  std::uint64_t bytes = 0;       // of the big run's channel files
  std::uint64_t many_bytes = 0;  // of the small runs' channel files
  std::uint64_t many_records = 0;
};

std::string fmt_run(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "run-%04d", i);
  return b;
}

// W1's record mix, pushed into `runs` runs round-robin until `target` bytes.
runlog::Status generate(const std::string& root, const std::string& task, int runs, std::uint64_t target,
                        std::uint64_t* records, std::uint64_t counts[3]) {
  runlog::Options o;
  o.runsRoot = root;
  o.durability = runlog::Durability::none;
  std::unique_ptr<runlog::Engine> engine;
  RUNLOG_RETURN_IF_ERROR(runlog::Engine::open(o).get(engine));
  std::vector<runlog::Run> handles;
  for (int i = 0; i < runs; ++i) {
    runlog::RunMetadata m;
    m.taskId = task;
    m.runId = runs == 1 ? "big" : fmt_run(i);
    m.stepId = "step-1";
    m.stepName = "bench";
    m.workerKind = "bench";
    m.checkpointMode = "none";
    runlog::Run r;
    RUNLOG_RETURN_IF_ERROR(engine->open_run(m).get(r));
    handles.push_back(r);
  }
  runlog::Producer p(*engine);
  std::mt19937_64 rng(42);
  static constexpr char kChars[] = "abcdefghij klmnopqrst uvwxyz\"\\\tABCDEFGHIJ\n0123456789";
  std::string text(kChunkBytes, ' ');
  std::uint64_t bytes = 0, n = 0;
  while (bytes < target) {
    const runlog::Run& run = handles[n % handles.size()];
    for (auto& c : text) c = kChars[rng() % (sizeof kChars - 1)];
    const unsigned pick = static_cast<unsigned>(rng() % 100);
    runlog::Status st;
    if (pick < 90) {
      st = p.push_stdout(run, text).status();
      ++counts[1];
      bytes += 190;
    } else if (pick < 99) {
      st = p.push_stderr(run, text).status();
      ++counts[2];
      bytes += 190;
    } else {
      runlog::LifecycleEvent e;
      e.type = runlog::EventType::worker_started;
      e.level = runlog::LogLevel::info;
      e.message = "lifecycle event " + std::to_string(n);
      e.dataJson = "{\"n\":" + std::to_string(n) + ",\"ok\":true,\"tag\":\"bench\"}";
      st = p.push_event(run, e).status();
      ++counts[0];
      bytes += 330;
    }
    if (!st.ok()) return st;
    ++n;
  }
  for (auto& r : handles) RUNLOG_RETURN_IF_ERROR(r.close());
  *records = n;
  return runlog::Status::OK();
}

std::uint64_t channel_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const char* f : kChannelFiles) {
    std::error_code ec;
    auto s = fs::file_size(dir + "/" + f, ec);
    if (!ec) total += s;
  }
  return total;
}

// ------------------------------------------------------------------- passes

// The reference: every channel file read with 1 MiB preads, parsed with
// iterate_many, seq and text read from every line (text unescaped).
std::uint64_t bare_pass(const std::string& dir, bool threaded, std::uint64_t* text_bytes) {
  static thread_local simdjson::ondemand::parser parser;
  parser.threaded = threaded;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  static thread_local std::vector<char> buf;
  std::uint64_t n = 0, tb = 0;
  for (const char* f : kChannelFiles) {
    int fd = ::open((dir + "/" + f).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::size_t carry = 0;
    off_t off = 0;
    for (;;) {
      std::size_t cap = std::max(kChunk, carry * 2);
      if (buf.size() < cap + simdjson::SIMDJSON_PADDING) buf.resize(cap + simdjson::SIMDJSON_PADDING);
      ssize_t r = ::pread(fd, buf.data() + carry, cap - carry, off);
      if (r <= 0) break;
      off += r;
      const std::size_t len = carry + static_cast<std::size_t>(r);
      std::size_t end = len;
      while (end > 0 && buf[end - 1] != '\n') --end;
      if (end == 0) {
        carry = len;
        continue;
      }
      simdjson::ondemand::document_stream ds;
      if (parser.iterate_many(buf.data(), end, simdjson::ondemand::DEFAULT_BATCH_SIZE).get(ds)) std::abort();
      for (auto doc : ds) {
        std::uint64_t seq = 0;
        if (doc["seq"].get_uint64().get(seq)) std::abort();
        std::string_view text;
        if (!doc["text"].get_string().get(text)) tb += text.size();
        benchmark::DoNotOptimize(seq);
        ++n;
      }
      carry = len - end;
      std::memmove(buf.data(), buf.data() + end, carry);
    }
    ::close(fd);
  }
  if (text_bytes) *text_bytes = tb;
  return n;
}

int null_fd() {
  static int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  return fd;
}

void write_all(int fd, std::string_view s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t w = ::write(fd, s.data() + off, s.size() - off);
    if (w <= 0) std::abort();
    off += static_cast<std::size_t>(w);
  }
}

enum class Format { jsonl, text, raw };

// replay --format <format> of one run to `fd`, as `runlog replay` writes it
// (text: control characters sent as they are, as to a file); returns entries
// (0 on error, with *error). *out_bytes: the bytes written.
std::uint64_t replay_pass(runlog::io::LogReader& reader, const std::string& dir, int fd, std::string* error,
                          std::string* keep = nullptr, Format format = Format::jsonl,
                          std::uint64_t* out_bytes = nullptr) {
  runlog::io::Source src;
  src.dir = dir;
  runlog::Status st = reader.open(src);
  std::string out;
  out.reserve(std::size_t{1} << 21);
  std::uint64_t n = 0, written = 0;
  const runlog::io::Entry* e = nullptr;
  while (st.ok() && (st = reader.next(&e)).ok() && e != nullptr) {
    switch (format) {
      case Format::jsonl: runlog::io::append_jsonl(*e, reader.context(), &out); break;
      case Format::text: st = runlog::io::append_text(*e, false, &out); break;
      case Format::raw: st = runlog::io::append_raw(*e, &out); break;
    }
    if (!st.ok()) break;
    ++n;
    if (out.size() >= (std::size_t{1} << 20)) {
      if (keep) keep->append(out);
      write_all(fd, out);
      written += out.size();
      out.clear();
    }
  }
  if (keep) keep->append(out);
  write_all(fd, out);
  written += out.size();
  if (out_bytes) *out_bytes = written;
  if (!st.ok()) {
    *error = st.to_string();
    return 0;
  }
  return n;
}

runlog::Result<runlog::io::RunSummary> summary_pass(runlog::io::LogReader& reader, const std::string& dir) {
  runlog::io::Source src;
  src.dir = dir;
  return runlog::io::summarize(reader, src);
}

// runlog verify of the run (both cores, as the CLI runs it): records checked,
// 0 when it found a problem (the first in *error).
std::uint64_t verify_pass(const std::string& dir, std::string* error) {
  const std::string paths[] = {dir};
  auto report = runlog::io::verify(paths);
  if (!report.ok()) {
    *error = report.status().to_string();
    return 0;
  }
  if (!report->clean()) {
    *error = report->problems.front().to_string();
    return 0;
  }
  return report->records;
}

// Open + the first record after --after n: seconds, and its seq in *seq.
double after_first(const std::string& dir, std::uint64_t n, std::uint64_t* seq) {
  const auto t0 = Clock::now();
  runlog::io::LogReader reader;
  runlog::io::Source src;
  src.dir = dir;
  runlog::io::ReadFilter f;
  f.after = n;
  const runlog::io::Entry* e = nullptr;
  if (!reader.open(src, f).ok() || !reader.next(&e).ok() || e == nullptr) {
    *seq = 0;
    return 0;
  }
  *seq = e->seq();
  return seconds_since(t0);
}

// jq -c . over the run's files to /dev/null: seconds, or -1 when jq is missing.
double jq_pass(const std::string& dir) {
  if (std::system("command -v jq >/dev/null 2>&1") != 0) return -1;
  const auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    std::string w = dir + "/worker.jsonl", o = dir + "/stdout.jsonl", e = dir + "/stderr.jsonl";
    ::execlp("jq", "jq", "-c", ".", w.c_str(), o.c_str(), e.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return seconds_since(t0);
}

// Node reading the run's files line by line with JSON.parse
// (peers/node_replay.mjs): its own timing of the parse loop, seconds; -1 when
// node is missing or failed, with the reason in *error.
double node_pass(const std::string& dir, std::uint64_t expect_records, std::string* error) {
  std::vector<std::string> argv = {runlog::bench::knobs().node, std::string(RUNLOG_BENCH_PEERS_DIR) + "/node_replay.mjs"};
  for (const char* f : kChannelFiles) argv.push_back(dir + "/" + f);
  auto out = runlog::bench::run_capture(argv);
  if (!out.ok()) {
    *error = out.status().to_string();
    return -1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::int64_t records = 0;
  double seconds = 0;
  if (parser.parse(out.value()).get(doc) || doc["records"].get(records) || doc["seconds"].get(seconds)) {
    *error = "node_replay.mjs: unexpected output: " + out.value();
    return -1;
  }
  if (static_cast<std::uint64_t>(records) != expect_records) {
    *error = "node_replay.mjs parsed " + std::to_string(records) + " records, not " + std::to_string(expect_records);
    return -1;
  }
  return seconds;
}

// Every run of a runs root, replayed on `threads` threads (as `runlog replay ROOT`) to /dev/null.
std::uint64_t replay_many(const std::string& root, unsigned threads, std::string* error) {
  std::vector<runlog::io::Source> sources;
  if (runlog::Status st = runlog::io::find_sources(root).get(sources); !st.ok()) {
    *error = st.to_string();
    return 0;
  }
  std::atomic<std::uint64_t> n{0};
  runlog::io::OrderedSink sink;
  sink.write = [](std::string_view b) {
    write_all(null_fd(), b);
    return runlog::Status::OK();
  };
  sink.done = [&](std::size_t, const runlog::Status& st) {
    if (!st.ok() && error->empty()) *error = st.to_string();
  };
  runlog::Status st = runlog::io::run_ordered(
      sources.size(), threads, {}, [&](std::size_t i, runlog::io::LogReader& reader, runlog::io::ChunkWriter& out) {
        runlog::Status s = reader.open(sources[i]);
        const runlog::io::Entry* e = nullptr;
        while (s.ok() && (s = reader.next(&e)).ok() && e != nullptr) {
          runlog::io::append_jsonl(*e, reader.context(), &out.buffer());
          n.fetch_add(1, std::memory_order_relaxed);
          if (!(s = out.flush_if_full()).ok()) break;
        }
        return s;
      },
      sink);
  if (!st.ok()) *error = st.to_string();
  return error->empty() ? n.load() : 0;
}

// ------------------------------------------------------------------ the data

// --format text writes every chunk's 100 bytes and, per lifecycle event, its
// renderedLine and '\n': strictly more than the chunks alone.
std::uint64_t text_bytes_floor(const Generated& d) { return kChunkBytes * (d.counts[1] + d.counts[2]) + d.counts[0]; }

const Generated& data() {
  static Generated g = [] {
    Generated d;
    const std::uint64_t mb = env_u64("RUNLOG_BENCH_REPLAY_MB", 64);
    char tmpl[] = "/tmp/runlog-replay-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      d.error = "mkdtemp failed";
      return d;
    }
    d.tmp = tmpl;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(data().tmp, ec);
    });
    d.root = d.tmp + "/runs";
    const auto t0 = Clock::now();
    if (auto st = generate(d.root, "bench", 1, mb << 20, &d.records, d.counts); !st.ok()) {
      d.error = "generating the run: " + st.to_string();
      return d;
    }
    d.run = d.root + "/bench/big";
    d.bytes = channel_bytes(d.run);
    // Many runs: 1,000 runs sharing a quarter of the size.
    d.many = d.tmp + "/many";
    std::uint64_t many_counts[3] = {0, 0, 0};
    if (auto st = generate(d.many, "bench", kManyRuns, std::max<std::uint64_t>(mb << 20, 64 << 20) / 4, &d.many_records,
                           many_counts);
        !st.ok()) {
      d.error = "generating the runs: " + st.to_string();
      return d;
    }
    for (auto& t : fs::directory_iterator(d.many + "/bench")) d.many_bytes += channel_bytes(t.path().string());
    std::fprintf(stderr, "replay bench: run of %llu records, %.1f MB generated in %.1f s; %d small runs, %.1f MB\n",
                 static_cast<unsigned long long>(d.records), static_cast<double>(d.bytes) / 1e6, seconds_since(t0),
                 kManyRuns, static_cast<double>(d.many_bytes) / 1e6);

    // Check the outputs before anything is timed.
    std::uint64_t tb = 0;
    const std::uint64_t bare = bare_pass(d.run, false, &tb);
    const std::uint64_t bare_t = bare_pass(d.run, true, &tb);
    std::string err;
    runlog::io::LogReader reader;
    std::string jsonl;
    const std::uint64_t replayed = replay_pass(reader, d.run, null_fd(), &err, d.bytes < (600ull << 20) ? &jsonl : nullptr);
    auto sum = summary_pass(reader, d.run);
    if (bare != d.records || bare_t != d.records) {
      d.error = "the bare pass saw " + std::to_string(bare) + " records, not " + std::to_string(d.records);
    } else if (replayed != d.records) {
      d.error = "replay saw " + std::to_string(replayed) + " records, not " + std::to_string(d.records) + " " + err;
    } else if (!sum.ok() || sum->counts.totalEntries != d.records || sum->counts.lastSeq != d.records ||
               sum->counts.lifecycleEventCount != d.counts[0] || sum->counts.stdoutChunkCount != d.counts[1] ||
               sum->counts.stderrChunkCount != d.counts[2] ||
               sum->bytes[0] + sum->bytes[1] + sum->bytes[2] != d.bytes) {
      d.error = "summary does not match the generated run";
    } else if (!jsonl.empty() && static_cast<std::uint64_t>(std::count(jsonl.begin(), jsonl.end(), '\n')) != d.records) {
      d.error = "the jsonl output does not have one line per record";
    } else if (std::uint64_t raw_bytes = 0;
               replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::raw, &raw_bytes) != d.records ||
               raw_bytes != kChunkBytes * (d.counts[1] + d.counts[2])) {
      d.error = "replay --format raw wrote " + std::to_string(raw_bytes) + " bytes, not the " +
                std::to_string(kChunkBytes * (d.counts[1] + d.counts[2])) + " pushed " + err;
    } else if (std::uint64_t text_bytes = 0;
               replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::text, &text_bytes) != d.records ||
               text_bytes <= text_bytes_floor(d)) {
      d.error = "replay --format text wrote " + std::to_string(text_bytes) + " bytes for " +
                std::to_string(d.records) + " records " + err;
    } else if (verify_pass(d.run, &err) != d.records) {
      d.error = "verify of the generated run: " + err;
    } else {
      std::string e1, e2;
      const std::uint64_t m1 = replay_many(d.many, 1, &e1), m2 = replay_many(d.many, 2, &e2);
      if (m1 != d.many_records || m2 != d.many_records)
        d.error = "replaying the many runs saw " + std::to_string(m1) + "/" + std::to_string(m2) + " records, not " +
                  std::to_string(d.many_records) + " " + e1 + e2;
    }
    if (d.error.empty()) {
      // The jsonl output, parsed back, names the right seqs in order.
      if (!jsonl.empty()) {
        simdjson::ondemand::parser p;
        simdjson::padded_string ps(jsonl);
        simdjson::ondemand::document_stream ds;
        std::uint64_t want = 1;
        if (p.iterate_many(ps).get(ds)) d.error = "jsonl output does not parse";
        for (auto doc : ds) {
          std::uint64_t seq = 0;
          if (doc["seq"].get_uint64().get(seq) || seq != want++) {
            d.error = "jsonl output: seq " + std::to_string(want - 1) + " missing or out of order";
            break;
          }
        }
      }
    }
    return d;
  }();
  return g;
}

bool ready(benchmark::State& state) {
  const Generated& d = data();
  if (!d.error.empty()) {
    state.SkipWithError(d.error.c_str());
    return false;
  }
  return true;
}

// --------------------------------------------------------------- benchmarks

void report(benchmark::State& state, std::uint64_t bytes, std::uint64_t items) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
}

void BM_ReplayBare(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  std::uint64_t n = 0;
  for (auto _ : state) n += bare_pass(d.run, state.range(0) != 0, nullptr);
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayBare)->ArgName("threaded")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayJsonl(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  runlog::io::LogReader reader;
  std::uint64_t n = 0;
  std::string err;
  for (auto _ : state) n += replay_pass(reader, d.run, null_fd(), &err);
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayJsonl)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayText(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  runlog::io::LogReader reader;
  std::uint64_t n = 0;
  std::string err;
  for (auto _ : state) n += replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::text);
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayText)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayRaw(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  runlog::io::LogReader reader;
  std::uint64_t n = 0;
  std::string err;
  for (auto _ : state) n += replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::raw);
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayRaw)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayVerify(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  std::uint64_t n = 0;
  std::string err;
  for (auto _ : state) n += verify_pass(d.run, &err);
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayVerify)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplaySummary(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  runlog::io::LogReader reader;
  std::uint64_t n = 0;
  for (auto _ : state) {
    auto s = summary_pass(reader, d.run);
    n += s.ok() ? s->counts.totalEntries : 0;
  }
  report(state, d.bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplaySummary)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReplayAfterFirst(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  std::uint64_t k = 0;
  for (auto _ : state) {
    std::uint64_t n = 1 + (k++ * 7919) % d.records, seq = 0;
    after_first(d.run, n, &seq);
    if (seq != n + 1 && n != d.records) {
      state.SkipWithError("the first record after --after N was not N+1");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReplayAfterFirst)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ReplayManyRuns(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  std::uint64_t n = 0;
  for (auto _ : state) {
    std::string err;
    n += replay_many(d.many, static_cast<unsigned>(state.range(0)), &err);
  }
  report(state, d.many_bytes * state.iterations(), n);
}
BENCHMARK(BM_ReplayManyRuns)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The figures of TARGETS.md, measured side by side: RUNLOG_BENCH_REPS rounds
// (default 5) of every pass in turn; the best of each.
void BM_ReplayFigures(benchmark::State& state) {
  if (!ready(state)) return;
  const Generated& d = data();
  const std::uint64_t reps = std::max<std::uint64_t>(1, env_u64("RUNLOG_BENCH_REPS", 5));
  double bare = 1e30, bare_t = 1e30, replay = 1e30, text = 1e30, raw = 1e30, summary = 1e30, verify = 1e30,
         after = 1e30, many1 = 1e30, many2 = 1e30;
  double many2_cores = 0;  // CPU seconds per wall second while two threads read the many runs
  runlog::io::LogReader reader;
  std::string err;
  for (auto _ : state) {
    for (std::uint64_t r = 0; r < reps; ++r) {
      auto t = Clock::now();
      bare_pass(d.run, false, nullptr);
      bare = std::min(bare, seconds_since(t));
      t = Clock::now();
      bare_pass(d.run, true, nullptr);
      bare_t = std::min(bare_t, seconds_since(t));
      t = Clock::now();
      if (replay_pass(reader, d.run, null_fd(), &err) != d.records) {
        state.SkipWithError("replay lost records");
        return;
      }
      replay = std::min(replay, seconds_since(t));
      t = Clock::now();
      if (replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::text) != d.records) {
        state.SkipWithError("replay --format text lost records");
        return;
      }
      text = std::min(text, seconds_since(t));
      t = Clock::now();
      if (replay_pass(reader, d.run, null_fd(), &err, nullptr, Format::raw) != d.records) {
        state.SkipWithError("replay --format raw lost records");
        return;
      }
      raw = std::min(raw, seconds_since(t));
      t = Clock::now();
      if (verify_pass(d.run, &err) != d.records) {
        state.SkipWithError(("verify: " + err).c_str());
        return;
      }
      verify = std::min(verify, seconds_since(t));
      t = Clock::now();
      auto s = summary_pass(reader, d.run);
      if (!s.ok() || s->counts.totalEntries != d.records) {
        state.SkipWithError("summary lost records");
        return;
      }
      summary = std::min(summary, seconds_since(t));
      for (int k = 0; k < 20; ++k) {
        std::uint64_t seq = 0, n = d.records / 2 + static_cast<std::uint64_t>(k) * 997 + r;
        double a = after_first(d.run, n, &seq);
        if (seq != n + 1) {
          state.SkipWithError("the first record after --after N was not N+1");
          return;
        }
        after = std::min(after, a);
      }
      t = Clock::now();
      replay_many(d.many, 1, &err);
      many1 = std::min(many1, seconds_since(t));
      t = Clock::now();
      const double cpu0 = process_cpu_seconds();
      replay_many(d.many, 2, &err);
      const double wall = seconds_since(t);
      if (wall < many2) {
        many2 = wall;
        many2_cores = (process_cpu_seconds() - cpu0) / wall;
      }
    }
  }
  const double ref = std::min(bare, bare_t);
  const double jq = jq_pass(d.run);
  std::string node_error;
  const double node = node_pass(d.run, d.records, &node_error);
  const double mb = static_cast<double>(d.bytes) / 1e6;
  state.counters["MB"] = mb;
  state.counters["bare_MBps"] = mb / ref;
  state.counters["bare_nothread_MBps"] = mb / bare;
  state.counters["bare_thread_MBps"] = mb / bare_t;
  state.counters["replay_MBps"] = mb / replay;
  state.counters["text_MBps"] = mb / text;
  state.counters["raw_MBps"] = mb / raw;
  state.counters["verify_MBps"] = mb / verify;
  state.counters["verify_vs_bare"] = ref / verify;
  state.counters["summary_MBps"] = mb / summary;
  state.counters["replay_vs_bare"] = ref / replay;
  state.counters["summary_vs_bare"] = ref / summary;
  state.counters["after_first_ms"] = after * 1e3;
  state.counters["many_1thread_MBps"] = static_cast<double>(d.many_bytes) / 1e6 / many1;
  state.counters["many_2threads_MBps"] = static_cast<double>(d.many_bytes) / 1e6 / many2;
  state.counters["many_speedup"] = many1 / many2;
  state.counters["many_2threads_cores_busy"] = many2_cores;
  if (jq > 0) {
    state.counters["jq_MBps"] = mb / jq;
    state.counters["replay_vs_jq"] = jq / replay;
  } else {
    std::fprintf(stderr, "replay bench: jq not found (or failed): no jq figure\n");
  }
  if (node > 0) {
    state.counters["node_MBps"] = mb / node;
    state.counters["replay_vs_node"] = node / replay;
  } else {
    std::fprintf(stderr, "replay bench: no Node figure: %s\n", node_error.c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(d.bytes));
}
BENCHMARK(BM_ReplayFigures)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
