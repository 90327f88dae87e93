// bench/conversation_bench.cpp — conversation ingest: producer threads push
// text chunks (a streamed reply: ~60-byte deltas) to many conversations on
// one engine, both durability modes. One iteration is one whole run, timed
// from the first push to the last acknowledgement (manual time). Its output
// is checked before the figure is reported: every chunks.jsonl is read back
// by the conversation reader (crcs, seqs 1..N, no torn tail) and the chunks
// add up to what was pushed; a wrong output is an error, never a figure.
// Names: conv/<durability>/runlog.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench/peers/support.h"
#include "io/conversation_reader.h"
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
    for (int c = 0; c < kConversations; ++c) {
      auto read = io::read_conversation(fmt::format("{}/c{}", o.conversationsRoot, c));
      if (!read.ok()) return state.SkipWithError(read.status().to_string().c_str());
      if (!read->notes.empty()) return state.SkipWithError(read->notes[0].c_str());
      total += read->entries.size();
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

[[maybe_unused]] const int registered = [] {
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
