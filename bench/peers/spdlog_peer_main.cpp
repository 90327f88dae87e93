// bench/peers/spdlog_peer_main.cpp — runlog_spdlog_peer: the spdlog async peer
// of the ingest suite (peers.h) as a program of its own, for the main job
// (.ci/main-job), which sets its figures beside `runlog demo`'s.
//
// Usage: runlog_spdlog_peer [--workload W1|W2|W3] [--records N] [--rounds K]
// Writes the workload's own lines (a pool of runlog's encoded output, as the
// suite does) N times with spdlog's async logger, K rounds, checks each output
// file's line count, and prints one JSON line on stdout:
//   {"peer":"spdlog_async","workload","records","bytes","rounds","bestSeconds","recordsPerSec","mbPerSec"}
// (the best round). Scratch files go under RUNLOG_BENCH_DIR, as in the suite.
// Exit status: 0, 1 when a round failed or its output was wrong, 2 bad usage.
// Thread: main() only; spdlog_async() starts and joins its own threads.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/peers/peers.h"
#include "bench/peers/support.h"

using namespace runlog;
using namespace runlog::bench;

namespace {

constexpr std::uint64_t kPoolRecords = 16384;  // as in ingest_bench.cpp

int usage(const std::string& why) {
  fmt::print(stderr, "runlog_spdlog_peer: {}\nUsage: runlog_spdlog_peer [--workload W1|W2|W3] [--records N] [--rounds K]\n",
             why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string workload = "W1";
  std::uint64_t records = 1000000;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("'{}' needs a value or is unknown", a));
    const std::string v = argv[++i];
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (a == "--workload") workload = v;
    else if (a == "--records" && *end == '\0' && n > 0) records = n;
    else if (a == "--rounds" && *end == '\0' && n > 0 && n < 100) rounds = static_cast<int>(n);
    else return usage(fmt::format("bad option '{} {}'", a, v));
  }
  const tools::WorkloadSpec w = tools::workload_spec(workload);
  if (w.name.empty() || w.name == "W4") return usage(fmt::format("workload '{}': W1, W2 or W3", workload));

  auto pool = make_line_pool(w, std::min(records, kPoolRecords));
  if (!pool.ok()) {
    fmt::print(stderr, "runlog_spdlog_peer: {}\n", pool.status().to_string());
    return 1;
  }
  PeerResult best;
  for (int round = 0; round < rounds; ++round) {
    Scratch scratch(fmt::format("{}-spdlog", w.name));
    const std::string out = scratch / "out.log";
    Result<PeerResult> r = spdlog_async(pool.value(), records, w.producers, out);
    Status st = r.status();
    if (st.ok()) {
      auto lines = count_lines(out);
      st = lines.status();
      if (st.ok() && lines.value() != records)
        st = Status::Corruption(fmt::format("{}: {} lines, {} expected", out, lines.value(), records));
    }
    if (!st.ok()) {
      fmt::print(stderr, "runlog_spdlog_peer: {}\n", st.to_string());
      return 1;
    }
    if (round == 0 || r->seconds < best.seconds) best = r.value();
  }
  const double secs = std::max(best.seconds, 1e-9);
  fmt::print("{{\"peer\":\"spdlog_async\",\"workload\":\"{}\",\"records\":{},\"bytes\":{},\"rounds\":{},"
             "\"bestSeconds\":{:.3f},\"recordsPerSec\":{:.0f},\"mbPerSec\":{:.1f}}}\n",
             w.name, best.records, best.bytes, rounds, best.seconds, static_cast<double>(best.records) / secs,
             static_cast<double>(best.bytes) / secs / 1e6);
  return 0;
}
