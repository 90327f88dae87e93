// tests/tools/exit_status_test.cpp — one table of exit statuses for every
// subcommand of the real `runlog` binary: 0 ok, 1 the work failed or problems
// were found, 2 bad usage (an unknown option, a bad value, a path that does not
// exist), with nothing on stdout and a pointer to --help on stderr for 2.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/process.h"
#include "ship/nats_cluster.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

struct Case {
  std::vector<std::string> args;
  int status;
};

class ExitStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One completed run, a jobs file, a damaged log file, a plain file.
    ASSERT_EQ(RunCli({"exec", "--runs-root", runs(), "--task", "t", "--run", "r", "--quiet", "--", "echo", "hi"})
                  .exit_code,
              0);
    ASSERT_TRUE(WriteFile(tmp_ / "jobs.jsonl", "{\"taskId\":\"j\",\"runId\":\"ok\",\"command\":[\"true\"]}\n"));
    ASSERT_TRUE(WriteFile(tmp_ / "fails.jsonl", "{\"taskId\":\"j\",\"runId\":\"no\",\"command\":[\"false\"]}\n"));
    ASSERT_TRUE(WriteFile(tmp_ / "damaged.jsonl", "not a record\n{\"seq\":1}\n"));
    ASSERT_TRUE(WriteFile(tmp_ / "file", "x"));
  }
  std::string runs() const { return tmp_ / "runs"; }
  std::string missing() const { return tmp_ / "no-such-path"; }

  void Check(const std::string& command, const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      std::vector<std::string> args = {command};
      args.insert(args.end(), c.args.begin(), c.args.end());
      SCOPED_TRACE(::testing::PrintToString(args));
      ProcessResult r = RunCli(args);
      EXPECT_EQ(r.exit_code, c.status) << r.describe() << "\n" << r.err;
      if (c.status == 2) {
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_NE(r.err.find("runlog " + command + ": "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("Try 'runlog " + command + " --help'."), std::string::npos) << r.err;
      }
    }
    ProcessResult help = RunCli({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    std::string text = help.out;  // the help, its lines joined
    for (char& ch : text) ch = ch == '\n' ? ' ' : ch;
    EXPECT_NE(text.find("Exit status: "), std::string::npos) << help.out;
    EXPECT_NE(text.find("2 bad usage"), std::string::npos) << help.out;
  }

  TempDir tmp_{"runlog-exit"};
};

// The commands with a test below. A new command adds its cases here too.
const std::set<std::string> kChecked = {"exec", "run", "demo", "replay", "summary", "verify", "ls", "chat", "serve", "ship"};

TEST_F(ExitStatusTest, Exec) {
  Check("exec", {{{"--runs-root", runs(), "--task", "t", "--run", "r2", "--quiet", "--", "true"}, 0},
                 {{"--runs-root", tmp_ / "file" + "/runs", "--task", "t", "--run", "r3", "--", "true"}, 1},
                 {{"--bogus", "--task", "t", "--run", "r4", "--", "true"}, 2},
                 {{"--task", "t", "--run", "r4", "--attempt", "0", "--", "true"}, 2},
                 {{"--task", "t"}, 2}});
  EXPECT_FALSE(Exists(runs() + "/t/r4"));
}

TEST_F(ExitStatusTest, Run) {
  Check("run", {{{"--jobs", tmp_ / "jobs.jsonl", "--runs-root", runs()}, 0},
                {{"--jobs", tmp_ / "fails.jsonl", "--runs-root", runs()}, 1},
                {{"--jobs", missing(), "--runs-root", runs()}, 2},
                {{"--jobs", tmp_ / "jobs.jsonl", "--bogus"}, 2},
                {{"--jobs", tmp_ / "jobs.jsonl", "-j", "-1"}, 2}});
}

TEST_F(ExitStatusTest, Demo) {
  Check("demo", {{{"--runs-root", runs(), "--records", "1000", "--durability", "none", "--quiet"}, 0},
                 {{"--runs-root", tmp_ / "file" + "/runs", "--records", "1000", "--quiet"}, 1},
                 {{"--bogus"}, 2},
                 {{"--records", "-5"}, 2}});
}

TEST_F(ExitStatusTest, Replay) {
  Check("replay", {{{runs() + "/t/r"}, 0},
                   {{tmp_ / "damaged.jsonl"}, 1},
                   {{missing()}, 2},
                   {{runs(), "--bogus"}, 2},
                   {{runs(), "--after", "-1"}, 2}});
}

TEST_F(ExitStatusTest, Summary) {
  Check("summary", {{{runs()}, 0}, {{tmp_ / "damaged.jsonl"}, 1}, {{missing()}, 2}, {{runs(), "--bogus"}, 2}});
}

TEST_F(ExitStatusTest, Verify) {
  Check("verify", {{{"--quiet", runs()}, 0},
                   {{"--quiet", tmp_ / "damaged.jsonl"}, 1},
                   {{missing()}, 2},
                   {{"--quiet", runs(), missing()}, 2},
                   {{"--bogus", runs()}, 2}});
}

TEST_F(ExitStatusTest, Ls) {
  Check("ls", {{{runs()}, 0}, {{tmp_ / "file"}, 1}, {{missing()}, 2}, {{runs(), "--bogus"}, 2}});
}

TEST_F(ExitStatusTest, Chat) {
  Check("chat", {{{"reconcile", "--conversations-root", tmp_ / "convs", "--id", "c"}, 0},
                 {{"reconcile", "--conversations-root", tmp_ / "file" + "/convs", "--id", "c"}, 1},
                 {{"reconcile", "--conversations-root", tmp_ / "convs", "--id", "c", "--bogus"}, 2},
                 {{"frobnicate", "--conversations-root", tmp_ / "convs", "--id", "c"}, 2}});
}

// serve runs until a signal: 0 is SIGTERM's status; 1 a port it cannot
// listen on (or an unreadable token file).
TEST_F(ExitStatusTest, Serve) {
  ServeProcess first(RUNLOG_CLI_PATH, {"--runs-root", runs(), "--max-streams", "4"});
  ASSERT_GT(first.port(), 0);
  Check("serve", {{{"--runs-root", runs(), "--listen", "127.0.0.1:" + std::to_string(first.port())}, 1},
                  {{"--runs-root", runs(), "--listen", "127.0.0.1:0", "--token-file", missing()}, 1},
                  {{"--bogus", "--runs-root", runs()}, 2},
                  {{"--listen", "127.0.0.1:0"}, 2},
                  {{"--runs-root", runs(), "--max-streams", "0"}, 2},
                  {{"--runs-root", runs(), "--client-buffer", "-1"}, 2},
                  {{"--runs-root", runs(), "--listen", "no-port"}, 2},
                  {{"--runs-root", runs(), "--listen", "0.0.0.0:0"}, 2}});
  EXPECT_EQ(first.stop(), 0);
}

TEST_F(ExitStatusTest, Ship) {
  Check("ship", {{{"--runs-root", runs(), "--nats", "nats://127.0.0.1:1"}, 1},  // server down
                 {{"--runs-root", runs()}, 2},
                 {{"--nats", "nats://127.0.0.1:1"}, 2},
                 {{"--runs-root", runs(), "--nats", "nats://127.0.0.1:1", "--bogus"}, 2},
                 {{"--runs-root", runs(), "--nats", "nats://127.0.0.1:1", "--replicas", "0"}, 2},
                 {{"--runs-root", runs(), "--nats", "nats://127.0.0.1:1", "--window", "-1"}, 2}});
  // replay nats:// takes --after and --follow only; a URL without a run is bad usage.
  Check("replay", {{{"nats://127.0.0.1:1/RUNLOG/t/r", "--limit", "3"}, 2}, {{"nats://127.0.0.1:1/RUNLOG/t"}, 2}});
  if (FindNatsServer().empty()) GTEST_SKIP() << "nats-server is not installed: the ship/replay nats:// 0 cases were not run";
  NatsCluster nats;
  std::string error;
  ASSERT_EQ(::mkdir((tmp_ / "nats").c_str(), 0755), 0);
  ASSERT_TRUE(nats.Start(tmp_ / "nats", 1, &error)) << error;
  Check("ship", {{{"--runs-root", runs(), "--nats", nats.Url(0), "--replicas", "1"}, 0}});
  Check("replay", {{{nats.Url(0) + "/RUNLOG/t/r"}, 0}});
}

// Every command `runlog --help` lists has its cases above.
TEST(ExitStatusTableTest, EveryCommandIsChecked) {
  ProcessResult top = RunCli({"--help"});
  ASSERT_EQ(top.exit_code, 0);
  const std::string list = top.out.substr(top.out.find("Commands:"));
  std::set<std::string> listed;
  for (std::size_t at = 0; (at = list.find("\n  ", at)) != std::string::npos; ++at)
    listed.insert(list.substr(at + 3, list.find(' ', at + 3) - at - 3));
  EXPECT_GE(listed.size(), kChecked.size()) << top.out;
  for (const std::string& c : listed) EXPECT_EQ(kChecked.count(c), 1u) << "no exit-status cases for `runlog " << c << "`";
}

}  // namespace
}  // namespace runlog::testing
