#include "tools/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "core/timefmt.h"

namespace runlog::tools {
namespace {

using Clock = std::chrono::steady_clock;

// Text like a worker prints: letters, spaces, newlines, some `"` `\` and tabs.
std::vector<std::string> make_texts(std::size_t size, std::size_t count, std::uint64_t seed) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 rng(seed);
  std::vector<std::string> texts(count);
  for (auto& t : texts) {
    t.resize(size);
    for (std::size_t i = 0; i < size; ++i) {
      std::uint64_t r = rng() % 100;
      if (r < 12) t[i] = ' ';
      else if (r < 14) t[i] = '\n';
      else if (r < 15) t[i] = '"';
      else if (r < 16) t[i] = '\\';
      else if (r < 17) t[i] = '\t';
      else t[i] = kAlphabet[rng() % (sizeof kAlphabet - 1)];
    }
    if (size > 0) t[size - 1] = '\n';
  }
  return texts;
}

}  // namespace

WorkloadSpec workload_spec(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::toupper(c); });
  if (n == "W1") return {"W1", 2, 16, 100, true, 2'000'000, 0};
  if (n == "W2") return {"W2", 2, 16, 1024, true, 200'000, 0};
  if (n == "W3") return {"W3", 2, 256, 100, true, 2'000'000, 0};
  if (n == "W4") return {"W4", 8, 64, 4096, false, 0, 10.0};
  return {};
}

std::uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

Result<WorkloadResult> run_workload(const WorkloadOptions& o) {
  const WorkloadSpec& spec = o.spec;
  if (spec.name.empty()) return Status::Invalid("unknown workload");
  std::uint64_t records = o.records;
  double seconds = o.seconds;
  if (records == 0 && seconds <= 0) {
    records = spec.default_records;
    seconds = spec.default_seconds;
  }
  auto opened = Engine::open(o.engine);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<Engine> engine = std::move(opened).value();

  WorkloadResult result;
  result.task_id = !o.task_id.empty() ? o.task_id
                                      : fmt::format("demo-{}-{}-{}", spec.name,
                                                    o.engine.durability == Durability::batch ? "batch" : "none",
                                                    now_unix_ms());
  std::vector<Run> runs;
  for (int i = 0; i < spec.runs; ++i) {
    RunMetadata meta;
    meta.taskId = result.task_id;
    meta.runId = fmt::format("run-{:03}", i);
    meta.stepId = "step-1";
    meta.stepName = "demo";
    meta.workerKind = "demo";
    meta.checkpointMode = "none";
    meta.command = fmt::format("runlog demo --workload {}", spec.name);
    auto run = engine->open_run(meta);
    if (!run.ok()) return run.status();
    runs.push_back(run.value());
    result.run_ids.push_back(meta.runId);
  }
  {  // every run starts with worker_started, from one producer, before the flood
    Producer p(*engine);
    for (Run& r : runs) {
      auto t = p.push_event(r, {EventType::worker_started, LogLevel::info, "demo worker started",
                                R"({"pid":0,"workload":")" + spec.name + "\"}"});
      if (!t.ok()) return t.status();
    }
  }

  const std::vector<std::string> texts = make_texts(spec.chunk, 1024, 42);
  std::atomic<std::uint64_t> pushed{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::atomic<int> finished{0};
  Status first_error;
  std::mutex error_mu;
  const std::uint64_t per_producer = records / static_cast<std::uint64_t>(spec.producers);
  const auto start = Clock::now();

  std::vector<std::thread> threads;
  for (int t = 0; t < spec.producers; ++t) {
    threads.emplace_back([&, t] {
      struct Done {
        std::atomic<int>& n;
        ~Done() { n.fetch_add(1); }
      } done{finished};
      Producer producer(*engine);
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + 1);
      std::size_t run_index = static_cast<std::size_t>(t) % runs.size();
      std::uint64_t mine = records ? per_producer + (static_cast<std::uint64_t>(t) < records % spec.producers ? 1 : 0) : 0;
      // Paced: record i is due at start + i / per-producer rate; sleep when
      // ahead by more than the sleep's own granularity, else push (in bursts).
      const double period_ns = o.rate > 0 ? 1e9 * spec.producers / o.rate : 0;
      for (std::uint64_t i = 0; records ? i < mine : !stop.load(std::memory_order_relaxed); ++i) {
        if (period_ns > 0) {
          const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(period_ns * static_cast<double>(i)));
          if (due - Clock::now() > std::chrono::microseconds(50)) std::this_thread::sleep_until(due);
        }
        Run& run = runs[run_index];
        run_index = (run_index + 1) % runs.size();
        const std::string& text = texts[rng() % texts.size()];
        Result<Ticket> r = Ticket();
        std::uint64_t dice = spec.mixed ? rng() % 100 : 0;
        if (dice < 90) r = producer.push_stdout(run, text);
        else if (dice < 99) r = producer.push_stderr(run, text);
        else
          r = producer.push_event(run, {EventType::worker_execution_deferred, LogLevel::debug, "deferred",
                                        fmt::format(R"({{"i":{},"producer":{}}})", i, t)});
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(error_mu);
          if (first_error.ok()) first_error = r.status();
          failed.store(true);
          return;
        }
        if ((i & 255) == 0) pushed.fetch_add(256, std::memory_order_relaxed);
        if (failed.load(std::memory_order_relaxed)) return;
      }
    });
  }
  // The calling thread keeps time and reports progress.
  while (true) {
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    bool all_pushed = records ? finished.load() == spec.producers : elapsed >= seconds;
    if (o.progress) o.progress(pushed.load(), elapsed);
    if (all_pushed || failed.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  if (!first_error.ok()) return first_error;

  {  // every run ends as a worker would end it
    Producer p(*engine);
    for (Run& r : runs) {
      auto a = p.push_event(r, {EventType::worker_exited, LogLevel::info, "demo worker exited", R"({"exitCode":0})"});
      if (!a.ok()) return a.status();
      auto b = p.push_event(r, {EventType::step_completed, LogLevel::info, "demo step completed", ""});
      if (!b.ok()) return b.status();
    }
  }
  if (Status st = engine->flush(); !st.ok()) return st;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (Run& r : runs) {
    if (Status st = r.close(); !st.ok()) return st;
  }
  result.stats = engine->stats();
  result.records = result.stats.records;
  result.bytes = result.stats.bytes;
  result.batches = result.stats.batches;
  result.fsyncs = result.stats.fsyncs;
  result.ackP50Us = result.stats.ackP50Us;
  result.ackP99Us = result.stats.ackP99Us;
  result.peakRssBytes = peak_rss_bytes();
  return result;
}

std::string workload_result_json(const WorkloadSpec& spec, Durability durability, const WorkloadResult& r) {
  double secs = r.seconds > 0 ? r.seconds : 1e-9;
  return fmt::format(
      R"({{"workload":"{}","durability":"{}","records":{},"bytes":{},"seconds":{:.3f},"recordsPerSec":{:.0f},"mbPerSec":{:.1f},"batches":{},"fsyncs":{},"ackP50Us":{:.0f},"ackP99Us":{:.0f},"peakRssBytes":{}}})",
      spec.name, durability == Durability::batch ? "batch" : "none", r.records, r.bytes, r.seconds,
      static_cast<double>(r.records) / secs, static_cast<double>(r.bytes) / secs / 1e6, r.batches, r.fsyncs,
      r.ackP50Us, r.ackP99Us, r.peakRssBytes);
}

}  // namespace runlog::tools
