// tests/reliability/kill_test.cpp — SPEC invariants 1 and 2 under real
// process kills: a real ingesting `runlog` process is SIGKILLed at a random
// moment, then `runlog verify --repair` runs over what it left, then a full
// check: every run's lines valid, seqs 1..N once each, N at least the durable
// watermark the writer had published in durable.seq when it died (those
// records were acknowledged), and a second `runlog verify` finds nothing.
//
// The command lines to kill are a table: one line adds another ingesting
// command. Size: RUNLOG_KILL_CASES (default 200 in all; 20,000 with
// RUNLOG_LONG=1; a tenth under the sanitizers, said in the output).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runlog/engine.h"
#include "support/crash_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using Clock = std::chrono::steady_clock;

// An ingesting command line; "{root}" becomes the runs root it writes under.
struct KillTarget {
  const char* name;
  std::vector<std::string> args;
};
const KillTarget kTargets[] = {
    {"demo W1 batch", {"demo", "--runs-root", "{root}", "--workload", "W1", "--records", "2000000", "--quiet"}},
    {"demo W2 batch", {"demo", "--runs-root", "{root}", "--workload", "W2", "--records", "400000", "--quiet"}},
    {"demo W1 none", {"demo", "--runs-root", "{root}", "--workload", "W1", "--durability", "none", "--records",
                      "4000000", "--quiet"}},
    // A real worker process captured by runlog exec: runlog dies, the child
    // then gets SIGPIPE.
    {"exec yes", {"exec", "--runs-root", "{root}", "--task", "kill", "--run", "r1", "--quiet", "--", "sh", "-c",
                  "yes 'a worker line, over and over' | head -c 300000000"}},
};

std::vector<std::string> Argv(const KillTarget& t, const std::string& root) {
  std::vector<std::string> argv{RUNLOG_CLI_PATH};
  for (const std::string& a : t.args) argv.push_back(a == "{root}" ? root : a);
  return argv;
}

// Every run folder under a runs root (<root>/<task>/<run>).
std::vector<std::string> RunDirs(const std::string& root) {
  std::vector<std::string> out;
  for (const std::string& task : ListDir(root))
    for (const std::string& run : ListDir(root + "/" + task)) out.push_back(root + "/" + task + "/" + run);
  return out;
}

// Opens the half-made run folder `dir` with the engine (which completes it)
// and closes it; "" when that worked and the run holds nothing.
std::string CompleteInterruptedRun(const std::string& root, const std::string& dir) {
  const std::string run = dir.substr(dir.rfind('/') + 1);
  const std::string task_dir = dir.substr(0, dir.rfind('/'));
  const std::string task = task_dir.substr(task_dir.rfind('/') + 1);
  Options o;
  o.runsRoot = root;
  auto engine = Engine::open(o);
  if (!engine.ok()) return "Engine::open: " + engine.status().to_string();
  RunMetadata m;
  m.taskId = task;
  m.runId = run;
  auto r = engine.value()->open_run(m);
  if (!r.ok()) return dir + ": open_run could not complete a run whose creation was killed: " + r.status().to_string();
  if (r->appended_seq() != 0) return dir + ": a run without meta.json held records";
  if (Status st = r->close(); !st.ok()) return dir + ": close: " + st.to_string();
  return "";
}

TEST(KillTest, SigkillAtRandomMomentsThenVerifyRepairAndAFullCheck) {
  const std::uint64_t cases = SizeFromEnv("RUNLOG_KILL_CASES", UnderSanitizer() ? 10 : 200, 20000);
  const std::uint64_t base = SeedFromEnv(4242);
  std::mt19937_64 rng(base);
  const auto start = Clock::now();
  std::uint64_t killed = 0, runs_checked = 0, acked_records = 0, interrupted = 0, before_root = 0;
  // Cases count only once the process had made its runs root: a kill before
  // that checks nothing. On a loaded machine processes start slowly, so each
  // such kill moves later moments by 20 ms (bounded: 3 × cases attempts).
  std::uint64_t counted = 0, attempts = 0;
  std::chrono::milliseconds later{0};
  int failures = 0;
  for (std::uint64_t i = 0; counted < cases && i < cases * 3 && failures < 5; ++i) {
    ++attempts;
    const KillTarget& target = kTargets[i % std::size(kTargets)];
    TempDir tmp("runlog-kill");
    const std::string root = tmp / "runs";
    // A moment from just after the start (runs being created: each takes a few
    // fsyncs) to well into the flood.
    // (A sanitizer build starts slowly: its moments begin later.)
    const auto delay = std::chrono::milliseconds((UnderSanitizer() ? 400 : 5) + rng() % 500) + later;
    ProcessResult p = RunProcess(Argv(target, root), delay);
    ASSERT_TRUE(p.started);
    if (!p.timed_out) {  // it finished first: then it must have succeeded
      EXPECT_EQ(p.exit_code, 0) << target.name << ": " << p.describe() << "\n" << p.err;
    } else {
      ++killed;
    }
    if (!Exists(root)) {  // killed before it made anything: nothing to check
      ++before_root;
      later += std::chrono::milliseconds(20);
      continue;
    }
    ++counted;
    // The watermark each run had published when it died.
    std::map<std::string, std::uint64_t> durable;
    for (const std::string& dir : RunDirs(root)) durable[dir] = ReadDurableSeq(dir).value_or(0);

    ProcessResult repair = RunCli({"verify", "--repair", root});
    std::string err;
    if (!repair.started || (repair.exit_code != 0 && repair.exit_code != 1))
      err = "verify --repair: " + repair.describe() + "\n" + repair.err;
    // A kill while a run was being created leaves its folder half made (no
    // meta.json or state.json yet), with nothing recorded in it. verify reports
    // it and --repair cannot complete it (it lacks the metadata); the next
    // open_run completes it (SPEC "Recovery", io/run_dir.cpp), and must.
    for (const std::string& dir : RunDirs(root)) {
      if (!err.empty() || (Exists(dir + "/meta.json") && Exists(dir + "/state.json"))) continue;
      for (const char* f : kChannelFiles)
        if (ReadFile(dir + "/" + f).value_or("") != "")
          err = dir + ": records but no meta.json or state.json after a kill";
      if (durable[dir] != 0) err = dir + ": a durable watermark but no meta.json or state.json after a kill";
      if (err.empty()) err = CompleteInterruptedRun(root, dir);
      ++interrupted;
    }
    for (const std::string& dir : RunDirs(root)) {
      if (!err.empty()) break;
      std::uint64_t last = 0;
      if (auto ok = CheckRun(dir, &last); !ok) {
        err = dir + ": " + ok.message();
        break;
      }
      // A run folder the kill left without its files yet holds nothing acknowledged.
      if (last < durable[dir])
        err = dir + ": " + std::to_string(durable[dir]) + " records were durable, " + std::to_string(last) + " remain";
      ++runs_checked;
      acked_records += durable[dir];
    }
    if (err.empty()) {
      ProcessResult again = RunCli({"verify", root});
      if (again.exit_code != 0) err = "verify after --repair: " + again.describe() + "\n" + again.out + again.err;
    }
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << target.name << ", killed after " << delay.count() << " ms (case " << i << ", base seed "
                    << base << "): " << err << "\n  repair said: " << repair.out << repair.err;
    }
  }
  EXPECT_GE(killed, attempts * 9 / 10) << "most processes should have been killed mid-flight";
  EXPECT_EQ(counted, cases) << "kills that landed after the runs root was made (" << before_root << " before, in "
                            << attempts << " attempts)";
  std::printf("[ kill ] %llu SIGKILLs of %llu processes (%llu before the runs root existed), %llu runs checked "
              "(%llu whose creation the kill interrupted), %llu durable records found again, %.1f s%s\n",
              static_cast<unsigned long long>(killed), static_cast<unsigned long long>(attempts),
              static_cast<unsigned long long>(before_root),
              static_cast<unsigned long long>(runs_checked), static_cast<unsigned long long>(interrupted), static_cast<unsigned long long>(acked_records),
              std::chrono::duration<double>(Clock::now() - start).count(),
              UnderSanitizer() ? " (reduced size: sanitizer build)" : "");
}

}  // namespace
}  // namespace runlog::testing
