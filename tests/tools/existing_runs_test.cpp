// tests/tools/existing_runs_test.cpp — the real `runlog` binary against runs
// that are already there: `runlog run` refuses a jobs file whose runs hold
// records (or skips them with --skip-existing), opens a run that never got a
// record again, and ends a run whose child cannot start failed; a run whose writer is gone while
// its state says running is "running (abandoned)" in ls and summary and a
// warning in verify, which --repair leaves alone.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runlog/engine.h"
#include "support/crash_fs.h"
#include "support/engine_fixture.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(s.substr(start, nl - start));
  return out;
}

std::string Job(const std::string& run, const std::string& command) {
  return "{\"taskId\":\"t\",\"runId\":\"" + run + "\",\"command\":[\"sh\",\"-c\",\"" + command + "\"]}\n";
}

TEST(RunExistingTest, RunsThatHoldRecordsAreRefusedUpFrontOrSkipped) {
  TempDir tmp("runlog-existing");
  const std::string runs = tmp / "runs";
  ASSERT_TRUE(WriteFile(tmp / "first.jsonl", Job("a", "exit 0") + Job("b", "exit 3")));
  ASSERT_EQ(RunCli({"run", "--jobs", tmp / "first.jsonl", "--runs-root", runs}).exit_code, 1);
  const std::optional<std::string> state_a = ReadFile(RunDir(runs, "t", "a") + "/state.json");
  ASSERT_TRUE(state_a.has_value());

  // Again, with a new job: refused before anything starts, the runs named.
  ASSERT_TRUE(WriteFile(tmp / "again.jsonl",
                        Job("a", "exit 0") + Job("b", "exit 3") + Job("c", "touch " + tmp / "ran-c")));
  ProcessResult refused = RunCli({"run", "--jobs", tmp / "again.jsonl", "--runs-root", runs});
  EXPECT_EQ(refused.exit_code, 2) << refused.describe() << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
  EXPECT_NE(refused.err.find("2 of the jobs' runs already hold records: t/a (completed), t/b (failed)"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--skip-existing"), std::string::npos) << refused.err;
  EXPECT_FALSE(Exists(tmp / "ran-c"));
  EXPECT_FALSE(Exists(RunDir(runs, "t", "c")));
  EXPECT_EQ(ReadFile(RunDir(runs, "t", "a") + "/state.json"), state_a) << "a refused run was changed";

  // --skip-existing: the others run; the existing ones are "skipped" with their status.
  ProcessResult skipped = RunCli({"run", "--jobs", tmp / "again.jsonl", "--runs-root", runs, "--skip-existing"});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.describe() << skipped.err;
  std::vector<std::string> lines = Lines(skipped.out);
  ASSERT_EQ(lines.size(), 4u) << skipped.out;
  EXPECT_EQ(lines[0].rfind("{\"taskId\":\"t\",\"runId\":\"a\",\"status\":\"skipped\",", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("\"existingStatus\":\"completed\"}"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"existingStatus\":\"failed\"}"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"runId\":\"c\",\"status\":\"completed\""), std::string::npos) << lines[2];
  EXPECT_EQ(lines[2].find("existingStatus"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("\"completed\":1,\"failed\":0,\"skipped\":2,"), std::string::npos) << lines[3];
  EXPECT_TRUE(Exists(tmp / "ran-c"));
  EXPECT_EQ(ReadFile(RunDir(runs, "t", "a") + "/state.json"), state_a) << "a skipped run was changed";
  EXPECT_EQ(RunCli({"verify", "--quiet", runs}).exit_code, 0);
}

TEST(RunExistingTest, ARunThatNeverGotARecordIsOpenedAgain) {
  TempDir tmp("runlog-existing");
  const std::string runs = tmp / "runs";
  // What an open cut short by the descriptor limit leaves: the folder, an empty log.
  ASSERT_EQ(::mkdir(runs.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((runs + "/t").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(RunDir(runs, "t", "z").c_str(), 0700), 0);
  ASSERT_TRUE(WriteFile(RunDir(runs, "t", "z") + "/worker.jsonl", ""));
  ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl", Job("z", "echo again")));
  ProcessResult r = RunCli({"run", "--jobs", tmp / "jobs.jsonl", "--runs-root", runs});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << r.err;
  EXPECT_EQ(ReadState(RunDir(runs, "t", "z")).status, "completed");
  ProcessResult e = RunCli({"exec", "--runs-root", runs, "--task", "t", "--run", "z", "--", "true"});
  EXPECT_EQ(e.exit_code, 2) << "now it holds records: " << e.err;
}

// The last line of a run's worker.jsonl (empty when it has none).
std::string LastWorkerLine(const std::string& dir) {
  std::vector<std::string> lines = ReadLines(dir + "/worker.jsonl");
  return lines.empty() ? std::string() : lines.back();
}

// At a low descriptor limit many children cannot be started; each of their
// runs that got a record ends with step_failed (state.json may lag when even
// it could not be written; the next open brings it up to date), and the same
// file run again with --skip-existing completes the rest.
TEST(RunExistingTest, ChildrenThatCannotStartEndTheirRunsFailed) {
  // The sanitizer runtimes need descriptors of their own: out of them, UBSan's
  // vptr check cannot probe memory (it opens a pipe) and reports every virtual
  // call as "invalid vptr". The main build runs this test.
  if (UnderSanitizer())
    GTEST_SKIP() << "descriptor exhaustion is tested in the main build only (sanitizer runtimes need descriptors)";
  TempDir tmp("runlog-existing");
  const std::string runs = tmp / "runs";
  std::string jobs;
  for (int i = 0; i < 60; ++i) jobs += Job("r" + std::to_string(i), "echo " + std::to_string(i));
  ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl", jobs));
  const std::string cmd = std::string("ulimit -n 48 && exec '") + RUNLOG_CLI_PATH + "' run -j 30 --jobs '" +
                          tmp / "jobs.jsonl" + "' --runs-root '" + runs + "'";
  ProcessResult low = RunProcess({"/bin/sh", "-c", cmd}, std::chrono::seconds(60));
  ASSERT_EQ(low.exit_code, 1) << low.describe() << low.err;
  EXPECT_NE(low.out.find("\"status\":\"failed\""), std::string::npos) << "no child failed to start: " << low.out;
  auto check_ended = [&] {
    for (int i = 0; i < 60; ++i) {
      const std::string line = LastWorkerLine(RunDir(runs, "t", "r" + std::to_string(i)));
      if (line.empty()) continue;  // never got a record
      EXPECT_TRUE(line.find("\"type\":\"step_failed\"") != std::string::npos ||
                  line.find("\"type\":\"step_completed\"") != std::string::npos)
          << i << ": " << line;
    }
  };
  check_ended();

  ProcessResult again = RunCli({"run", "--jobs", tmp / "jobs.jsonl", "--runs-root", runs, "--skip-existing"});
  EXPECT_EQ(again.exit_code, 0) << again.describe() << again.err;
  EXPECT_NE(again.out.find("\"failed\":0,"), std::string::npos) << again.out;
  for (int i = 0; i < 60; ++i)
    EXPECT_FALSE(LastWorkerLine(RunDir(runs, "t", "r" + std::to_string(i))).empty()) << i << " never ran";
  check_ended();
}

class AbandonedRunTest : public EngineTestBase {};

TEST_F(AbandonedRunTest, LsSummaryAndVerifyTellItFromALiveRun) {
  {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "t", "gone");
    Producer p(*engine);
    ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
    ASSERT_TRUE(p.push_stdout(run, "working\n").ok());
    ASSERT_TRUE(run.close().ok());  // its runner stops here, state.json still says running
  }
  const std::string state = ReadFile(run_dir("t", "gone") + "/state.json").value_or("");
  ASSERT_NE(state.find("\"status\":\"running\""), std::string::npos) << state;

  ProcessResult ls = RunCli({"ls", root()});
  EXPECT_NE(ls.out.find("running (abandoned)"), std::string::npos) << ls.out;
  ProcessResult sum = RunCli({"summary", run_dir("t", "gone")});
  EXPECT_EQ(sum.exit_code, 0) << sum.err;
  EXPECT_NE(sum.out.find("\"live\":false,\"abandoned\":true,"), std::string::npos) << sum.out;

  ProcessResult v = RunCli({"verify", root()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_TRUE(v.out.empty()) << v.out;
  EXPECT_NE(v.err.find("warning: " + run_dir("t", "gone") + ": running (abandoned)"), std::string::npos) << v.err;
  EXPECT_NE(v.err.find("1 abandoned"), std::string::npos) << v.err;
  ProcessResult repair = RunCli({"verify", "--repair", root()});
  EXPECT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_NE(repair.err.find("running (abandoned)"), std::string::npos) << repair.err;
  EXPECT_EQ(ReadFile(run_dir("t", "gone") + "/state.json").value_or(""), state) << "--repair changed it";

  // The same run held open by a writer is live, not abandoned.
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run held = OpenRun(*engine, "t", "gone");
  ProcessResult live = RunCli({"ls", root()});
  EXPECT_NE(live.out.find("running (live)"), std::string::npos) << live.out;
  EXPECT_EQ(live.out.find("abandoned"), std::string::npos) << live.out;
  ProcessResult vlive = RunCli({"verify", root()});
  EXPECT_EQ(vlive.err.find("abandoned"), std::string::npos) << vlive.err;
  ASSERT_TRUE(held.close().ok());
}

}  // namespace
}  // namespace runlog::testing
