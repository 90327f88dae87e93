// bench/ingest_bench.cpp — the ingest half of the benchmark suite (TARGETS.md):
// runlog on the workloads W1..W4 (tools/workload.h, what `runlog demo` runs)
// in both durability modes, and its peers on the same bytes in the same run.
//
// One iteration is one whole run (N records; W4: a timed flood), timed by the
// run itself (manual time: setup, checks and clean-up are not counted). Every
// run's output is checked before its figure is reported: runlog's files are
// read whole by the recovery scanner (valid CRCs, seqs gap-free, no torn tail,
// the expected record count); each peer's output has the expected line count.
// A wrong output is an error (SkipWithError), never a figure.
//
// W4 (the flood, whose target is peak memory) runs as `runlog demo` in a
// process of its own. Names: <workload>/<durability>/runlog[/half_load], <workload>/<peer>,
// disk/<what>. Sizes come from the environment (bench/peers/support.h);
// bench/run_suite.sh sets them for the full suite and the smoke pass.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "bench/peers/peers.h"
#include "bench/peers/support.h"
#include "tools/workload.h"

namespace runlog::bench {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// Lines in a peer's pool: enough distinct records that nothing is cached by content.
constexpr std::uint64_t kPoolRecords = 16384;

bool fail(benchmark::State& state, const Status& st) {
  if (st.ok()) return false;
  state.SkipWithError(st.to_string().c_str());
  return true;
}

const char* mode_name(Durability d) { return d == Durability::batch ? "batch" : "none"; }

// The peers' pools, made once per workload and kept until a runlog benchmark
// runs (so that they are not counted in its resident memory).
std::map<std::string, LinePool>& pools() {
  static std::map<std::string, LinePool> m;
  return m;
}

Result<const LinePool*> line_pool(const tools::WorkloadSpec& w) {
  auto it = pools().find(w.name);
  if (it == pools().end()) {
    auto made = make_line_pool(w, std::min(workload_records(w), kPoolRecords));
    if (!made.ok()) return made.status();
    it = pools().emplace(w.name, std::move(made).value()).first;
  }
  return &it->second;
}

struct RunlogRun {
  tools::WorkloadResult result;
  std::uint64_t rss_baseline = 0;
};

// One checked run of workload `w` into a scratch folder of its own.
Result<RunlogRun> run_runlog(const tools::WorkloadSpec& w, Durability d, double rate, bool journal) {
  Scratch scratch(fmt::format("{}-{}-runlog", w.name, mode_name(d)));
  tools::WorkloadOptions o;
  o.spec = w;
  o.engine.runsRoot = scratch.path();
  o.engine.durability = d;
  o.engine.journal = journal;
  o.records = workload_records(w);
  o.seconds = o.records == 0 ? knobs().w4_seconds : 0;
  o.rate = rate;
  o.task_id = "bench";
  RunlogRun run;
  reset_peak_rss();
  run.rss_baseline = current_rss_bytes();
  auto r = tools::run_workload(o);
  if (!r.ok()) return r.status();
  run.result = std::move(r).value();
  const std::uint64_t expected = o.records == 0 ? 0 : o.records + 3 * static_cast<std::uint64_t>(w.runs);
  if (auto checked = check_runs(scratch.path(), run.result, expected); !checked.ok()) return checked.status();
  return run;
}

// W<n>/<durability>/runlog; with half_load, first an unpaced run for the max
// rate, then the measured run paced at half of it (records/s then says what
// was offered; the ack latency is the figure).
// With `journal`, group commit goes through the journal (Options::journal).
void BM_Runlog(benchmark::State& state, const tools::WorkloadSpec& w, Durability d, bool half_load,
               bool journal = false) {
  pools().clear();
  std::uint64_t records = 0, bytes = 0;
  for (auto _ : state) {
    double rate = 0;
    if (half_load) {
      auto max = run_runlog(w, d, 0, journal);
      if (fail(state, max.status())) break;
      const double max_rate = static_cast<double>(max->result.records) / max->result.seconds;
      rate = max_rate / 2;
      state.counters["max_records_per_s"] = max_rate;
      state.counters["paced_records_per_s"] = rate;
    }
    auto run = run_runlog(w, d, rate, journal);
    if (fail(state, run.status())) break;
    const tools::WorkloadResult& r = run->result;
    const EngineStats& s = r.stats;
    state.SetIterationTime(r.seconds);
    records += r.records;
    bytes += r.bytes;
    state.counters["records"] = static_cast<double>(r.records);
    state.counters["records_per_batch"] = s.recordsPerBatch;
    state.counters["fsyncs_per_s"] = static_cast<double>(r.fsyncs) / r.seconds;
    state.counters["sync_waves_per_s"] = static_cast<double>(s.syncWaves) / r.seconds;
    state.counters["ack_p50_us"] = s.ackP50Us;
    state.counters["ack_p99_us"] = s.ackP99Us;
    state.counters["ack_p999_us"] = s.ackP999Us;
    state.counters["ack_max_us"] = s.ackMaxUs;
    state.counters["blocked_pushes"] = static_cast<double>(s.blockedPushes);
    // In-process, the peak includes what the allocator kept from earlier
    // benchmarks; its growth over the size before the engine opened is the
    // engine's (roughly: it may reuse memory kept resident). W4 runs in a
    // process of its own for the target.
    state.counters["rss_growth_mib"] =
        static_cast<double>(r.peakRssBytes - std::min(r.peakRssBytes, run->rss_baseline)) / kMiB;
    state.counters["line_bytes"] = static_cast<double>(r.bytes) / static_cast<double>(r.records);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// W4/<durability>/runlog: the flood runs as `runlog demo` (the same
// run_workload) in a process of its own, so that its peak resident memory is a
// whole process's, from a fresh start: nothing this binary did before (other
// benchmarks, the peers' pools, the allocator's free lists) is in it.
void BM_RunlogProcess(benchmark::State& state, const tools::WorkloadSpec& w, Durability d) {
  std::uint64_t records = 0, bytes = 0;
  for (auto _ : state) {
    Scratch scratch(fmt::format("{}-{}-demo", w.name, mode_name(d)));
    auto out = run_capture({RUNLOG_CLI_PATH, "demo", "--runs-root", scratch.path(), "--workload", w.name,
                            "--durability", mode_name(d), "--seconds", fmt::format("{}", knobs().w4_seconds),
                            "--quiet"});
    if (fail(state, out.status())) break;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::uint64_t batches = 0, peak = 0;
    double ack_p50 = 0, ack_p99 = 0;
    tools::WorkloadResult r;
    if (parser.parse(out.value()).get(doc) || doc["records"].get(r.records) || doc["bytes"].get(r.bytes) ||
        doc["seconds"].get(r.seconds) || doc["batches"].get(batches) || doc["fsyncs"].get(r.fsyncs) ||
        doc["ackP50Us"].get(ack_p50) || doc["ackP99Us"].get(ack_p99) || doc["peakRssBytes"].get(peak)) {
      fail(state, Status(Errc::io_error, 0, "runlog demo: unexpected output: " + out.value()));
      break;
    }
    // The one task folder it made, with runs run-000.. as run_workload names them.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(scratch.path(), ec)) r.task_id = e.path().filename();
    for (int i = 0; i < w.runs; ++i) r.run_ids.push_back(fmt::format("run-{:03}", i));
    if (fail(state, check_runs(scratch.path(), r, 0).status())) break;
    state.SetIterationTime(r.seconds);
    records += r.records;
    bytes += r.bytes;
    state.counters["records"] = static_cast<double>(r.records);
    state.counters["records_per_batch"] = batches ? static_cast<double>(r.records) / static_cast<double>(batches) : 0;
    state.counters["fsyncs_per_s"] = static_cast<double>(r.fsyncs) / r.seconds;
    state.counters["ack_p50_us"] = ack_p50;
    state.counters["ack_p99_us"] = ack_p99;
    state.counters["peak_rss_mib"] = static_cast<double>(peak) / kMiB;
    state.counters["budget_mib"] = static_cast<double>(Options{}.inFlightBudget) / kMiB;
    state.counters["line_bytes"] = static_cast<double>(r.bytes) / static_cast<double>(r.records);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void report_peer(benchmark::State& state, const PeerResult& r) {
  state.SetIterationTime(r.seconds);
  state.counters["records"] = static_cast<double>(r.records);
  state.counters["fsyncs_per_s"] = static_cast<double>(r.fsyncs) / r.seconds;
  if (r.records > 0) state.counters["line_bytes"] = static_cast<double>(r.bytes) / static_cast<double>(r.records);
}

Status expect_lines(const std::string& path, std::uint64_t want) {
  auto n = count_lines(path);
  if (!n.ok()) return n.status();
  if (n.value() != want) return Status::Corruption(fmt::format("{}: {} lines, {} expected", path, n.value(), want));
  return Status::OK();
}

enum class Peer { spdlog_async, naive_fsync_per_record, naive_periodic_fsync, node_writeSync, node_writeSync_fsync100 };

// W<n>/<peer>: the peer writes the lines of a pool of runlog's own output for
// the workload, as many records as runlog's run pushes.
void BM_Peer(benchmark::State& state, const tools::WorkloadSpec& w, Peer peer) {
  const std::uint64_t records =
      peer == Peer::naive_fsync_per_record ? std::min(knobs().fsync_records, workload_records(w)) : workload_records(w);
  auto got = line_pool(w);
  if (fail(state, got.status())) return;
  const LinePool& pool = *got.value();
  std::uint64_t done = 0, bytes = 0;
  for (auto _ : state) {
    Scratch scratch(fmt::format("{}-peer", w.name));
    const std::string out = scratch / "out.log";
    Result<PeerResult> r = Status(Errc::invalid_argument, 0, "no peer");
    switch (peer) {
      case Peer::spdlog_async:
        r = spdlog_async(pool, records, w.producers, out);
        break;
      case Peer::naive_fsync_per_record:
        r = naive_fsync_per_record(pool, records, w.producers, out);
        break;
      case Peer::naive_periodic_fsync:
        r = naive_periodic_fsync(pool, records, w.producers, out);
        break;
      case Peer::node_writeSync:
      case Peer::node_writeSync_fsync100: {
        const std::string pool_path = scratch / "pool.jsonl";
        {
          std::ofstream f(pool_path, std::ios::binary);
          for (const std::string& line : pool.lines) f << line;
          if (!f) {
            fail(state, Status(Errc::io_error, 0, "cannot write " + pool_path));
            return;
          }
        }
        r = node_writer(pool_path, records, w.runs, peer == Peer::node_writeSync ? 0 : 100, scratch / "runs");
        break;
      }
    }
    if (fail(state, r.status())) break;
    const bool node = peer == Peer::node_writeSync || peer == Peer::node_writeSync_fsync100;
    if (fail(state, expect_lines(node ? scratch / "runs" : out, records))) break;
    if (r->records != records) {
      fail(state, Status::Corruption(fmt::format("peer wrote {} records, {} expected", r->records, records)));
      break;
    }
    if (!node) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(out, ec);
      if (ec || size != r->bytes) {
        fail(state, Status::Corruption(fmt::format("{}: {} bytes, {} expected", out, size, r->bytes)));
        break;
      }
    }
    report_peer(state, r.value());
    done += r->records;
    bytes += r->bytes;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(done));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// disk/seq_1MiB_fsync_4MiB: as many bytes as a W2 run writes (its pool's mean
// line times its record count), from one thread.
void BM_DiskSequential(benchmark::State& state) {
  const tools::WorkloadSpec w2 = tools::workload_spec("W2");
  auto pool = line_pool(w2);
  if (fail(state, pool.status())) return;
  const auto want = static_cast<std::uint64_t>(pool.value()->mean_line() * static_cast<double>(workload_records(w2)));
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    Scratch scratch("disk-seq");
    const std::string out = scratch / "seq.bin";
    auto r = disk_sequential(*pool.value(), want, out);
    if (fail(state, r.status())) break;
    std::error_code ec;
    if (std::filesystem::file_size(out, ec) != want || ec) {
      fail(state, Status::Corruption(fmt::format("{}: not {} bytes", out, want)));
      break;
    }
    state.SetIterationTime(r->seconds);
    state.counters["fsyncs_per_s"] = static_cast<double>(r->fsyncs) / r->seconds;
    bytes += r->bytes;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void report_latency(benchmark::State& state, const PeerResult& r) {
  state.counters["p50_us"] = r.p50_us;
  state.counters["p99_us"] = r.p99_us;
  state.counters["p999_us"] = r.p999_us;
  state.counters["max_us"] = r.max_us;
  state.counters["samples"] = static_cast<double>(r.records);
}

// disk/fdatasync_4KiB_append: the latency of one durable 4 KiB append.
void BM_FsyncAppend(benchmark::State& state) {
  for (auto _ : state) {
    Scratch scratch("disk-fsync");
    const std::string out = scratch / "append.log";
    auto r = fdatasync_append(knobs().sync_samples, out);
    if (fail(state, r.status())) break;
    if (fail(state, expect_lines(out, r->records))) break;
    state.SetIterationTime(r->p50_us / 1e6);  // the time of one: the median
    report_latency(state, r.value());
  }
}

// disk/fdatasync_64_files_{serial,concurrent}: 64 files, each with a fresh
// 4 KiB append, synced one after another or from 8 threads (as runlog's sync
// pool does); the time of one round.
void BM_FsyncFiles(benchmark::State& state, int threads) {
  constexpr int kFiles = 64;
  const std::uint64_t rounds = std::max<std::uint64_t>(3, knobs().sync_samples / 50);
  for (auto _ : state) {
    Scratch scratch("disk-files");
    auto r = fdatasync_files(kFiles, threads, rounds, scratch.path());
    if (fail(state, r.status())) break;
    if (fail(state, expect_lines(scratch.path(), rounds * kFiles))) break;
    state.SetIterationTime(r->p50_us / 1e6);
    report_latency(state, r.value());
  }
}

void register_all() {
  auto add = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  };
  for (const char* name : {"W1", "W2", "W3", "W4"}) {
    const tools::WorkloadSpec w = tools::workload_spec(name);
    for (Durability d : {Durability::none, Durability::batch}) {
      if (w.name == "W4") {
        add(fmt::format("{}/{}/runlog", w.name, mode_name(d)),
            [w, d](benchmark::State& s) { BM_RunlogProcess(s, w, d); });
      } else {
        add(fmt::format("{}/{}/runlog", w.name, mode_name(d)),
            [w, d](benchmark::State& s) { BM_Runlog(s, w, d, false); });
      }
    }
    if (w.name == "W1" || w.name == "W3") {
      add(fmt::format("{}/batch/runlog/half_load", w.name),
          [w](benchmark::State& s) { BM_Runlog(s, w, Durability::batch, true); });
      // The same through the journal (opt-in: docs/design.md).
      add(fmt::format("{}/batch/runlog_journal", w.name),
          [w](benchmark::State& s) { BM_Runlog(s, w, Durability::batch, false, true); });
      add(fmt::format("{}/batch/runlog_journal/half_load", w.name),
          [w](benchmark::State& s) { BM_Runlog(s, w, Durability::batch, true, true); });
    }
    if (w.name == "W4") continue;  // a timed flood: runlog's memory bound, no peer
    const std::pair<Peer, const char*> peers[] = {
        {Peer::spdlog_async, "spdlog_async"},
        {Peer::naive_fsync_per_record, "naive_fsync_per_record"},
        {Peer::naive_periodic_fsync, "naive_periodic_fsync"},
        {Peer::node_writeSync, "node_writeSync"},
        {Peer::node_writeSync_fsync100, "node_writeSync_fsync100"},
    };
    for (const auto& [peer, peer_name] : peers) {
      add(fmt::format("{}/{}", w.name, peer_name), [w, peer = peer](benchmark::State& s) { BM_Peer(s, w, peer); });
    }
  }
  add("disk/seq_1MiB_fsync_4MiB", BM_DiskSequential);
  add("disk/fdatasync_4KiB_append", BM_FsyncAppend);
  add("disk/fdatasync_64_files_serial", [](benchmark::State& s) { BM_FsyncFiles(s, 1); });
  add("disk/fdatasync_64_files_concurrent", [](benchmark::State& s) { BM_FsyncFiles(s, 8); });
}

[[maybe_unused]] const int registered = (register_all(), 0);

}  // namespace
}  // namespace runlog::bench
