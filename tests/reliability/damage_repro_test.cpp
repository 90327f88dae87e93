// tests/reliability/damage_repro_test.cpp — damage found by hand, each as one
// end-to-end CLI case of SPEC "Recovery" and "Logs written by other
// implementations of the contract": --repair on a flipped bit or a truncation
// in the last stdout line of a closed run, exec after a deleted line, chat
// append after a conversation's deleted or flipped line, conversation replay
// of a flipped bit, a run of another contract implementation through
// verify/ls/summary/exec/--repair, 1,100 runs read under a 1,024-descriptor
// limit, a stray chunks.jsonl in a run folder, symlinked folders under verify.
// The damage matrix (damage_matrix_test.cpp) generalises them. Skipped unless
// RUNLOG_DAMAGE_MATRIX=1 (or kDamageMatrixOnByDefault, damage_matrix.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "reliability/damage_matrix.h"
#include "support/crash_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace damage;  // NOLINT(google-build-using-namespace): the verbs of this test
namespace fs = std::filesystem;

class DamageReproTest : public ::testing::Test {
 protected:
  void SetUp() override { RUNLOG_REQUIRE_DAMAGE_MATRIX(); }
  std::string runs() const { return tmp_ / "runs"; }
  std::string run_dir() const { return tmp_ / "runs/t/r"; }
  std::string convs() const { return tmp_ / "convs"; }
  // A closed run: seqs 1 run_prepared, 2 worker_started, 3..5 output (stdout
  // 3 and 5, stderr 4), 6 worker_exited, 7 step_completed; durable.seq 7.
  void ExecClosedRun() {
    const ProcessResult r = RunCli({"exec", "--runs-root", runs(), "--task", "t", "--run", "r", "--quiet", "--",
                                    "/bin/sh", "-c", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c"});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << r.err;
    ASSERT_EQ(ParseDurable(run_dir()), std::optional<std::uint64_t>(7));
  }
  // A conversation of `n` chunks through `runlog chat append`.
  void AppendChunks(int n) {
    std::string lines;
    for (int i = 1; i <= n; ++i)
      lines += R"({"role":")" + std::string(i % 2 ? "user" : "assistant") + R"(","chunk":{"type":"text","text":"c)" +
               std::to_string(i) + "\"}}\n";
    ASSERT_TRUE(WriteFile(tmp_ / "in.jsonl", lines));
    const ProcessResult r = ChatAppend(tmp_ / "in.jsonl");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(FirstUint(r.out, "lastSeq"), std::optional<std::uint64_t>(n));
  }
  ProcessResult ChatAppend(const std::string& input) const {
    return RunProcess({"/bin/sh", "-c",
                       "exec '" + std::string(RUNLOG_CLI_PATH) + "' chat append --conversations-root '" + convs() +
                           "' --id c < '" + input + "'"},
                      std::chrono::seconds(60));
  }
  static void FlipLastLine(const std::string& file) {
    std::string c = ReadFile(file).value();
    const std::size_t start = c.rfind('\n', c.size() - 2) + 1;
    c[start + 5] = static_cast<char>(c[start + 5] ^ 0x01);  // inside `"seq":`'s key
    ASSERT_TRUE(WriteFile(file, c));
  }
  static void DeleteLine(const std::string& file, std::size_t index) {
    std::string c = ReadFile(file).value();
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) start = c.find('\n', start) + 1;
    c.erase(start, c.find('\n', start) + 1 - start);
    ASSERT_TRUE(WriteFile(file, c));
  }
  TempDir tmp_{"runlog-repro"};
};

TEST_F(DamageReproTest, RepairRefusesAFlippedBitInTheLastStdoutLineOfAClosedRun) {
  ExecClosedRun();
  FlipLastLine(run_dir() + "/stdout.jsonl");
  const Snapshot before = Snap(run_dir());
  const ProcessResult v = RunCli({"verify", run_dir()});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.out.find("torn tail"), std::string::npos) << "seq 5 <= durable.seq 7 is corruption:\n" << v.out;
  EXPECT_NE(v.out.find("stdout.jsonl:"), std::string::npos) << v.out;
  const ProcessResult r = RunCli({"verify", "--repair", run_dir()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
}

TEST_F(DamageReproTest, RepairRefusesATruncatedStdoutOfAClosedRun) {
  ExecClosedRun();
  const std::string f = run_dir() + "/stdout.jsonl";
  const std::string c = ReadFile(f).value();
  ASSERT_TRUE(WriteFile(f, c.substr(0, c.size() - 40)));  // truncate -s -40
  const Snapshot before = Snap(run_dir());
  const ProcessResult r = RunCli({"verify", "--repair", run_dir()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
}

TEST_F(DamageReproTest, ExecAfterALineIsDeletedIsRefusedWithNothingCut) {
  ExecClosedRun();
  DeleteLine(run_dir() + "/worker.jsonl", 1);  // sed -i 2d: seq 2 gone
  const Snapshot before = Snap(run_dir());
  const ProcessResult r =
      RunCli({"exec", "--runs-root", runs(), "--task", "t", "--run", "r", "--quiet", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
  EXPECT_EQ(ParseDurable(run_dir()), std::optional<std::uint64_t>(7));
}

TEST_F(DamageReproTest, ChatAppendAfterLineTwoIsDeletedIsRefusedAndReusesNoSeq) {
  AppendChunks(5);
  const std::string dir = convs() + "/c";
  DeleteLine(dir + "/chunks.jsonl", 1);
  const Snapshot before = Snap(dir);
  ASSERT_TRUE(WriteFile(tmp_ / "one.jsonl", R"({"role":"user","chunk":{"type":"text","text":"new"}})"
                                            "\n"));
  const ProcessResult r = ChatAppend(tmp_ / "one.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, ChatAppendAfterAFlipInTheLastLineIsRefused) {
  AppendChunks(5);
  const std::string dir = convs() + "/c";
  FlipLastLine(dir + "/chunks.jsonl");
  const Snapshot before = Snap(dir);
  ASSERT_TRUE(WriteFile(tmp_ / "one.jsonl", R"({"role":"user","chunk":{"type":"text","text":"new"}})"
                                            "\n"));
  const ProcessResult r = ChatAppend(tmp_ / "one.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, ConversationReplayOfAFlippedBitIsCorruption) {
  AppendChunks(5);
  const std::string f = convs() + "/c/chunks.jsonl";
  const std::string whole = ReadFile(f).value();
  std::string c = whole;
  c[c.find('\n') + 3] ^= 0x02;  // line 2
  ASSERT_TRUE(WriteFile(f, c));
  const ProcessResult r = RunCli({"replay", convs() + "/c"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(RunCli({"verify", convs() + "/c"}).exit_code, 1);
  // The last line of a closed conversation (seq 5 <= durable.seq 5) is no
  // torn tail either: replay must not serve 1..4 and exit 0.
  ASSERT_TRUE(WriteFile(f, whole));
  FlipLastLine(f);
  const ProcessResult last = RunCli({"replay", convs() + "/c"});
  EXPECT_EQ(last.exit_code, 1) << last.out;
  EXPECT_EQ(RunCli({"verify", convs() + "/c"}).exit_code, 1);
}

TEST_F(DamageReproTest, ARunOfAnotherContractImplementationIsRecordsForEveryEntryPoint) {
  std::mt19937_64 rng(SeedFromEnv(7));
  ASSERT_TRUE(WriteForeignRun(tmp_.path(), true, 0, rng));
  const std::string dir = tmp_ / "runs/mtask/mrun";
  const ProcessResult v = RunCli({"verify", dir});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  const ProcessResult ls = RunCli({"ls", "--json", runs()});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(FirstUint(ls.out, "entries"), std::optional<std::uint64_t>(12)) << ls.out;
  const ProcessResult s = RunCli({"summary", dir});
  EXPECT_EQ(FirstUint(s.out, "lastSeq"), std::optional<std::uint64_t>(12)) << s.out;
  const Snapshot before = Snap(dir);
  const ProcessResult e =
      RunCli({"exec", "--runs-root", runs(), "--task", "mtask", "--run", "mrun", "--quiet", "--", "/bin/true"});
  EXPECT_EQ(e.exit_code, 2) << e.err;  // README: a run that already holds records is bad usage
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, RepairNeverCutsAWholeLineOfARunningForeignRun) {
  std::mt19937_64 rng(SeedFromEnv(8));
  ASSERT_TRUE(WriteForeignRun(tmp_.path(), false, 6, rng));
  const std::string dir = tmp_ / "runs/mtask/mrun";
  const Snapshot before = Snap(dir);
  const ProcessResult r = RunCli({"verify", "--repair", dir});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* f : kChannelFiles) EXPECT_EQ(Snap(dir)[f], before.at(f)) << f;
}

// 1,100 runs read with at most 1,024 descriptors (set in the child only).
TEST_F(DamageReproTest, ReadersOfARootShowEveryRunWhateverTheDescriptorLimit) {
  constexpr int kRuns = 1100;
  for (int i = 0; i < kRuns; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%04d", i);
    const std::string dir = tmp_ / (std::string("runs/t/") + id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    ASSERT_TRUE(WriteFile(dir + "/meta.json", std::string(R"({"taskId":"t","stepId":"s","runId":")") + id + "\"}"));
    ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl",
                          R"({"seq":1,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"x"})"
                          "\n"));
  }
  for (const char* cmd : {"replay", "summary"}) {
    const ProcessResult r = RunProcess(
        {"/bin/sh", "-c", "ulimit -n 1024 && exec '" + std::string(RUNLOG_CLI_PATH) + "' " + cmd + " '" + runs() + "'"},
        std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err.substr(0, 500);
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), kRuns) << cmd;
  }
}

TEST_F(DamageReproTest, AStrayChunksFileInARunFolderIsAnError) {
  ExecClosedRun();
  ASSERT_TRUE(WriteFile(run_dir() + "/chunks.jsonl", ""));
  for (const char* cmd : {"replay", "summary"}) {
    const ProcessResult r = RunCli({cmd, run_dir()});
    EXPECT_EQ(r.exit_code, 1) << cmd << " printed " << r.out.size() << " bytes";
  }
}

TEST_F(DamageReproTest, VerifyReportsASymlinkedTaskFolder) {
  ExecClosedRun();
  std::error_code ec;
  fs::create_directories(tmp_ / "elsewhere", ec);
  fs::rename(tmp_ / "runs/t", tmp_ / "elsewhere/t", ec);
  ASSERT_FALSE(ec);
  fs::create_directory_symlink(tmp_ / "elsewhere/t", tmp_ / "runs/t", ec);
  ASSERT_FALSE(ec);
  const ProcessResult r = RunCli({"verify", runs()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST_F(DamageReproTest, VerifyReportsASymlinkedArtifactsFolder) {
  ExecClosedRun();
  std::error_code ec;
  fs::create_directories(tmp_ / "outside", ec);
  fs::remove_all(run_dir() + "/artifacts", ec);
  fs::create_directory_symlink(tmp_ / "outside", run_dir() + "/artifacts", ec);
  ASSERT_FALSE(ec);
  const ProcessResult r = RunCli({"verify", runs()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("artifacts"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace runlog::testing
