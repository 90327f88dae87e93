// bench/conversation_bench.cpp — conversation ingest: producer threads push
// text chunks (a streamed reply: ~60-byte deltas) to many conversations on
// one engine, both durability modes. One iteration is one whole run, timed
// from the first push to the last acknowledgement (manual time). Its output
// is checked before the figure is reported: every chunks.jsonl is read back
// by io::LogReader (crcs, seqs 1..N, no torn tail) and the chunks
// add up to what was pushed; a wrong output is an error, never a figure.
// Names: conv/<durability>/runlog.
//
// conv/after_first: one large conversation (RUNLOG_BENCH_CONV_MB megabytes of
// chunks.jsonl, default 16, 1 MB under RUNLOG_BENCH_SMOKE; the full suite
// uses 1024), written once by the engine; the figure is open + the first
// chunk after --after N (N = 9/10 of the chunks), best of RUNLOG_BENCH_REPS
// (default 5), as the counter after_first_ms. Checked: the chunk served is
// N+1.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/peers/support.h"
#include "io/reader.h"
#include "runlog/engine.h"

namespace runlog::bench {
namespace {

constexpr int kConversations = 32;
constexpr int kProducers = 2;

void conversation_ingest(benchmark::State& state, Durability d) {
  // Smoke-sized by default; RUNLOG_BENCH_RECORDS scales it like the workloads.
  const std::uint64_t records = knobs().smoke ? 20'000 : 400'000;
  for (auto _ : state) {
    Scratch scratch(fmt::format("conv-{}", d == Durability::batch ? "batch" : "none"));
    Options o;
    o.runsRoot = scratch.path();
    o.conversationsRoot = scratch / "conversations";
    o.durability = d;
    auto engine = Engine::open(o);
    if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
    std::vector<Conversation> convs;
    for (int c = 0; c < kConversations; ++c) {
      auto conv = engine.value()->open_conversation(fmt::format("c{}", c));
      if (!conv.ok()) return state.SkipWithError(conv.status().to_string().c_str());
      convs.push_back(conv.value());
    }
    std::vector<std::string> chunks;
    for (int i = 0; i < 64; ++i)
      chunks.push_back(fmt::format(R"({{"type":"text","text":"token {} of a streamed reply, with \"quotes\" and é {}"}})", i, i * 7));
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (int t = 0; t < kProducers; ++t) {
      threads.emplace_back([&, t] {
        Producer p(*engine.value());
        for (std::uint64_t i = static_cast<std::uint64_t>(t); i < records; i += kProducers)
          if (!p.push_chunk(convs[i % convs.size()], Role::assistant, chunks[i % chunks.size()]).ok()) failed = true;
      });
    }
    for (auto& th : threads) th.join();
    Status st = engine.value()->flush();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!st.ok() || failed) return state.SkipWithError(failed ? "a push failed" : st.to_string().c_str());
    const EngineStats s = engine.value()->stats();
    for (auto& c : convs) (void)c.close();
    // The check: every conversation read back whole, gap-free, adding up.
    std::uint64_t total = 0;
    io::LogReader reader;
    for (int c = 0; c < kConversations; ++c) {
      Status rs = reader.open(io::conversation_source(fmt::format("{}/c{}", o.conversationsRoot, c)));
      const io::Entry* e = nullptr;
      while (rs.ok() && (rs = reader.next(&e)).ok() && e != nullptr) ++total;
      if (!rs.ok()) return state.SkipWithError(rs.to_string().c_str());
      if (!reader.notes().empty()) return state.SkipWithError(reader.notes()[0].c_str());
    }
    if (total != records)
      return state.SkipWithError(fmt::format("{} chunks read back, {} pushed", total, records).c_str());
    state.SetIterationTime(seconds);
    state.counters["records"] = static_cast<double>(records);
    state.counters["records_per_s"] = static_cast<double>(records) / seconds;
    state.counters["mb_per_s"] = static_cast<double>(s.bytes) / seconds / 1e6;
    state.counters["records_per_batch"] = s.recordsPerBatch;
    state.counters["ack_p50_us"] = s.ackP50Us;
    state.counters["ack_p99_us"] = s.ackP99Us;
  }
}

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return std::strtoull(v, nullptr, 10);
}

// Open + the first chunk after `after`: seconds; its seq in *seq (0: none).
double conversation_after_first(const std::string& dir, std::uint64_t after, std::uint64_t* seq) {
  const auto t0 = std::chrono::steady_clock::now();
  *seq = 0;
  io::LogReader reader;
  io::ReadFilter f;
  f.after = after;
  const io::Entry* e = nullptr;
  if (reader.open(io::conversation_source(dir), f).ok() && reader.next(&e).ok() && e != nullptr) *seq = e->seq();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void conversation_after(benchmark::State& state) {
  const std::uint64_t mb = env_u64("RUNLOG_BENCH_CONV_MB", knobs().smoke ? 1 : 16);
  const std::uint64_t reps = std::max<std::uint64_t>(1, env_u64("RUNLOG_BENCH_REPS", 5));
  Scratch scratch("conv-after");
  Options o;
  o.runsRoot = scratch.path();
  o.conversationsRoot = scratch / "conversations";
  o.durability = Durability::none;
  std::uint64_t chunks = 0, bytes = 0;
  {
    auto engine = Engine::open(o);
    if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
    auto conv = engine.value()->open_conversation("big");
    if (!conv.ok()) return state.SkipWithError(conv.status().to_string().c_str());
    Producer p(*engine.value());
    std::string chunk;
    while (bytes < mb * 1'000'000) {
      chunk = fmt::format(R"({{"type":"text","text":"token {} of a long streamed reply, with \"quotes\", é and enough words to be typical"}})",
                          chunks);
      auto t = p.push_chunk(conv.value(), chunks % 8 == 0 ? Role::user : Role::assistant, chunk);
      if (!t.ok()) return state.SkipWithError(t.status().to_string().c_str());
      ++chunks;
      bytes += chunk.size() + 60;  // the StoredChunk line around it: about 60 bytes
    }
    if (Status st = engine.value()->flush(); !st.ok()) return state.SkipWithError(st.to_string().c_str());
    (void)conv.value().close();
  }
  const std::string dir = o.conversationsRoot + "/big";
  const std::uint64_t n = chunks / 10 * 9;
  for (auto _ : state) {
    double best = 1e30;
    for (std::uint64_t r = 0; r < reps; ++r) {
      std::uint64_t seq = 0;
      const double s = conversation_after_first(dir, n, &seq);
      if (seq != n + 1)
        return state.SkipWithError(fmt::format("the first chunk after --after {} was seq {}", n, seq).c_str());
      best = std::min(best, s);
    }
    state.SetIterationTime(best);
    state.counters["after_first_ms"] = best * 1e3;
    state.counters["chunks"] = static_cast<double>(chunks);
    state.counters["file_mb"] = static_cast<double>(bytes) / 1e6;
  }
}

[[maybe_unused]] const int registered = [] {
  benchmark::RegisterBenchmark("conv/after_first/runlog", conversation_after)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
  for (Durability d : {Durability::none, Durability::batch})
    benchmark::RegisterBenchmark(d == Durability::batch ? "conv/batch/runlog" : "conv/none/runlog",
                                 [d](benchmark::State& s) { conversation_ingest(s, d); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  return 0;
}();

}  // namespace
}  // namespace runlog::bench
