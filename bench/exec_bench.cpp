// bench/exec_bench.cpp — does `runlog exec` slow its child down?
//
// The child (runlog_bench_child, tests/tools/child_helper.cpp `flood MIB`)
// writes RUNLOG_BENCH_EXEC_MB MiB of 100-byte text lines to stdout in 64 KiB
// writes, as fast as it can, and prints its own elapsed seconds on stderr.
// One iteration runs, interleaved, RUNLOG_BENCH_REPS rounds (best of each) of:
//   alone        the child with stdout to /dev/null
//   quiet        runlog exec --quiet -- child            (runlog's stdout to /dev/null)
//   passthrough  runlog exec -- child, runlog's stdout to /dev/null
// Before a figure is reported, every run is checked: `runlog verify` is clean
// and the run's stdout (`replay --format raw`) has exactly the bytes the child
// writes (CRC32C and length against the child's own output, read once).
//
// Counters (wall time of the whole process: for runlog, until every record is
// durable and it has exited):
//   alone_s, quiet_s, passthrough_s
//   quiet_ratio, passthrough_ratio     runlog's time / the child alone   (target <= 1.2)
//   child_quiet_ratio, child_passthrough_ratio
//                                      the child's own writing time under runlog / alone
// exec/seq_quiet (below): runlog exec --quiet -- seq 1 N against seq | cat.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "peers/support.h"

extern char** environ;

namespace runlog::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t exec_mib() {
  const char* v = std::getenv("RUNLOG_BENCH_EXEC_MB");
  return v != nullptr && std::atoi(v) > 0 ? static_cast<std::uint64_t>(std::atoi(v)) : 4;
}

int reps() {
  const char* v = std::getenv("RUNLOG_BENCH_REPS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : (knobs().smoke ? 1 : 3);
}

struct Spawned {
  double seconds = 0;       ///< wall time, spawn to reap
  int status = -1;          ///< exit code (or 128 + signal)
  std::string err;          ///< its stderr
  std::string out;          ///< its stdout (keep)
  std::uint32_t crc = 0;    ///< of its stdout, when hashed
  std::uint64_t out_bytes = 0;
};

/// Runs argv; stdout to /dev/null or (hash) through a pipe that is hashed; stderr captured.
/// keep: stdout is also kept in `out`.
Result<Spawned> spawn_wait(const std::vector<std::string>& argv, bool hash, bool keep = false) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (hash) posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Spawned s;
  const auto t0 = Clock::now();
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    return Status::FromErrno(rc, "spawn " + argv[0]);
  }
  // stderr is small: read it after stdout (which is drained first when hashed).
  std::vector<char> buf(1 << 20);
  if (hash) {
    for (ssize_t n; (n = ::read(out[0], buf.data(), buf.size())) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      s.crc = crc32c_extend(s.crc, buf.data(), static_cast<std::size_t>(n));
      if (keep) s.out.append(buf.data(), static_cast<std::size_t>(n));
      s.out_bytes += static_cast<std::uint64_t>(n);
    }
  }
  for (ssize_t n; (n = ::read(err[0], buf.data(), buf.size())) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    s.err.append(buf.data(), static_cast<std::size_t>(n));
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(out[0]);
  ::close(err[0]);
  s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return s;
}

/// "flood-seconds X" from the child's stderr; -1 when missing.
double flood_seconds(const std::string& err) {
  std::size_t at = err.find("flood-seconds ");
  return at == std::string::npos ? -1 : std::atof(err.c_str() + at + 14);
}

void BM_ExecPassThrough(benchmark::State& state) {
  const std::string child = RUNLOG_BENCH_CHILD_PATH;
  const std::string cli = RUNLOG_CLI_PATH;
  const std::string mib = std::to_string(exec_mib());
  auto fail = [&](const std::string& why) { state.SkipWithError(why.c_str()); };
  for (auto _ : state) {
    // The reference: the child's exact output, hashed (untimed).
    auto ref = spawn_wait({child, "flood", mib}, true);
    if (!ref.ok() || ref->status != 0) return fail("the child failed on its own");
    double best[3] = {1e300, 1e300, 1e300}, child_best[3] = {1e300, 1e300, 1e300};
    for (int round = 0; round < reps(); ++round) {
      for (int v = 0; v < 3; ++v) {
        Scratch scratch(fmt::format("exec-{}", v));
        std::vector<std::string> argv;
        if (v > 0) {
          argv = {cli, "exec", "--runs-root", scratch.path(), "--task", "bench", "--run", "r"};
          if (v == 1) argv.push_back("--quiet");
          argv.push_back("--");
        }
        argv.insert(argv.end(), {child, "flood", mib});
        auto r = spawn_wait(argv, false);
        if (!r.ok()) return fail(r.status().to_string());
        if (r->status != 0) return fail(fmt::format("variant {} exited {}: {}", v, r->status, r->err));
        double cs = flood_seconds(r->err);
        if (v > 0) {
          // The output check: verify clean, and the stdout channel holds the child's bytes exactly.
          auto verify = spawn_wait({cli, "verify", scratch.path()}, false);
          if (!verify.ok() || verify->status != 0) return fail("runlog verify failed: " + (verify.ok() ? verify->err : ""));
          auto raw = spawn_wait({cli, "replay", scratch / "bench/r", "--format", "raw", "--channel", "stdout"}, true);
          if (!raw.ok() || raw->status != 0 || raw->crc != ref->crc || raw->out_bytes != ref->out_bytes)
            return fail(fmt::format("the run's stdout differs from the child's ({} bytes vs {})",
                                    raw.ok() ? raw->out_bytes : 0, ref->out_bytes));
          if (cs < 0) {  // --quiet: the child's stderr went into the run only
            auto e = spawn_wait({cli, "replay", scratch / "bench/r", "--format", "raw", "--channel", "stderr"}, true,
                                true);
            if (e.ok()) cs = flood_seconds(e->out);
          }
        }
        best[v] = std::min(best[v], r->seconds);
        if (cs >= 0) child_best[v] = std::min(child_best[v], cs);
      }
    }
    state.SetIterationTime(best[2]);
    state.counters["mib"] = static_cast<double>(exec_mib());
    state.counters["alone_s"] = best[0];
    state.counters["quiet_s"] = best[1];
    state.counters["passthrough_s"] = best[2];
    state.counters["quiet_ratio"] = best[1] / best[0];
    state.counters["passthrough_ratio"] = best[2] / best[0];
    state.counters["child_alone_s"] = child_best[0];
    if (child_best[1] < 1e300) state.counters["child_quiet_ratio"] = child_best[1] / child_best[0];
    if (child_best[2] < 1e300) state.counters["child_passthrough_ratio"] = child_best[2] / child_best[0];
    state.SetBytesProcessed(static_cast<std::int64_t>(ref->out_bytes));
  }
}

// exec/seq_quiet: `runlog exec --quiet -- seq 1 N` against the same output
// through a plain pipe, `sh -c 'seq 1 N | cat >/dev/null'` (issue target
// <= 1.1x): small lines (8 bytes on average), every one escaped and recorded.
// N is RUNLOG_BENCH_EXEC_SEQ (20,000,000 in the full suite; 200,000 in smoke).
// Best of RUNLOG_BENCH_REPS interleaved rounds each; the run is checked as
// above (verify clean, raw stdout == seq's bytes).
std::string seq_count() {
  const char* v = std::getenv("RUNLOG_BENCH_EXEC_SEQ");
  return v != nullptr && std::atoll(v) > 0 ? std::to_string(std::atoll(v)) : std::string("200000");
}

void BM_ExecSeq(benchmark::State& state) {
  const std::string cli = RUNLOG_CLI_PATH;
  const std::string n = seq_count();
  auto fail = [&](const std::string& why) { state.SkipWithError(why.c_str()); };
  for (auto _ : state) {
    auto ref = spawn_wait({"/bin/sh", "-c", "exec seq 1 " + n}, true);
    if (!ref.ok() || ref->status != 0) return fail("seq failed on its own");
    double pipe_best = 1e300, runlog_best = 1e300;
    for (int round = 0; round < reps(); ++round) {
      auto pipe = spawn_wait({"/bin/sh", "-c", "seq 1 " + n + " | cat >/dev/null"}, false);
      if (!pipe.ok() || pipe->status != 0) return fail("seq | cat failed");
      pipe_best = std::min(pipe_best, pipe->seconds);
      Scratch scratch("exec-seq");
      auto r = spawn_wait({cli, "exec", "--runs-root", scratch.path(), "--task", "bench", "--run", "seq", "--quiet",
                           "--", "seq", "1", n},
                          false);
      if (!r.ok()) return fail(r.status().to_string());
      if (r->status != 0) return fail(fmt::format("runlog exec -- seq exited {}: {}", r->status, r->err));
      auto verify = spawn_wait({cli, "verify", scratch.path()}, false);
      if (!verify.ok() || verify->status != 0) return fail("runlog verify failed: " + (verify.ok() ? verify->err : ""));
      auto raw = spawn_wait({cli, "replay", scratch / "bench/seq", "--format", "raw", "--channel", "stdout"}, true);
      if (!raw.ok() || raw->status != 0 || raw->crc != ref->crc || raw->out_bytes != ref->out_bytes)
        return fail(fmt::format("the run's stdout differs from seq's ({} bytes vs {})", raw.ok() ? raw->out_bytes : 0,
                                ref->out_bytes));
      runlog_best = std::min(runlog_best, r->seconds);
    }
    state.SetIterationTime(runlog_best);
    state.counters["lines"] = std::atof(n.c_str());
    state.counters["pipe_s"] = pipe_best;
    state.counters["quiet_s"] = runlog_best;
    state.counters["seq_ratio"] = runlog_best / pipe_best;
    state.SetBytesProcessed(static_cast<std::int64_t>(ref->out_bytes));
  }
}

[[maybe_unused]] const int registered = [] {
  benchmark::RegisterBenchmark("exec/seq_quiet", BM_ExecSeq)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("exec/passthrough", BM_ExecPassThrough)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
}  // namespace runlog::bench
