// tests/tools/acknowledged_test.cpp — no acknowledged record is ever cut,
// renumbered or reused (SPEC "Recovery"), and lines written by another
// implementation of the contract are records (SPEC "Logs written by other
// implementations"). Each test is one damage a user or an attacker can do,
// then every entry point that opens or repairs the stream, through the
// `runlog` binary: corruption exits 1 and leaves every byte as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "io/run_dir.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

constexpr const char* kAt = "2026-11-21T10:17:00.123Z";

std::string Seal(std::string_view body) {
  char hex[9] = {};
  crc32c_hex(crc32c(body.data(), body.size()), hex);
  return std::string(body) + ",\"crc\":\"" + hex + "\"}\n";
}
std::string Chunk(std::uint64_t seq, std::string_view channel) {
  return Seal("{\"seq\":" + std::to_string(seq) + ",\"channel\":\"" + std::string(channel) + "\",\"createdAt\":\"" +
              kAt + "\",\"text\":\"line " + std::to_string(seq) + "\\n\"");
}
std::string Event(std::uint64_t seq, std::string_view type, std::string_view data = "{}") {
  const std::string msg = std::string(type);
  return Seal("{\"seq\":" + std::to_string(seq) +
              ",\"channel\":\"worker\",\"eventId\":\"0b6c3f5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b\",\"type\":\"" + msg +
              "\",\"level\":\"info\",\"createdAt\":\"" + kAt + "\",\"message\":\"" + msg + "\",\"data\":" +
              std::string(data) + ",\"renderedLine\":\"[" + kAt + "] info " + msg + ": " + msg + "\"");
}
std::string DurableSeq(std::uint64_t n) {
  std::string s = std::to_string(n);
  return std::string(20 - s.size(), '0') + s + "\n";
}

class AcknowledgedTest : public ::testing::Test {
 protected:
  std::string runs() const { return tmp_ / "runs"; }
  std::string run_dir() const { return runs() + "/t1/r1"; }
  std::string Path(const std::string& f) const { return run_dir() + "/" + f; }

  // A closed run: worker 1, stdout 2..5, worker 6 (exited) and 7 (completed);
  // durable.seq and state.json both say 7.
  void MakeClosedRun() {
    ASSERT_EQ(::mkdir(runs().c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((runs() + "/t1").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(run_dir().c_str(), 0700), 0);
    RunMetadata m;
    m.taskId = "t1";
    m.runId = "r1";
    m.stepId = "s1";
    m.stepName = "step";
    m.workerKind = "shell";
    m.attempt = 1;
    m.repoRoot = "/repo";
    m.worktreePath = "/repo";
    m.createdAt = kAt;
    m.checkpointMode = "none";
    RunStateSnapshot s;
    s.status = RunStatus::completed;
    s.attempt = 1;
    s.startedAt = kAt;
    s.updatedAt = kAt;
    s.finishedAt = kAt;
    s.lastEventSeq = 7;
    s.exitCode = 0;
    ASSERT_TRUE(WriteFile(Path("meta.json"), io::meta_to_json(m)));
    ASSERT_TRUE(WriteFile(Path("state.json"), io::state_to_json(s)));
    ASSERT_TRUE(WriteFile(Path("durable.seq"), DurableSeq(7)));
    ASSERT_TRUE(WriteFile(Path("worker.jsonl"), Event(1, "worker_started") +
                                                    Event(6, "worker_exited", "{\"exitCode\":0}") +
                                                    Event(7, "step_completed")));
    ASSERT_TRUE(WriteFile(Path("stdout.jsonl"), Chunk(2, "stdout") + Chunk(3, "stdout") + Chunk(4, "stdout") +
                                                    Chunk(5, "stdout")));
    ASSERT_TRUE(WriteFile(Path("stderr.jsonl"), ""));
    for (const char* d : {"checkpoints", "artifacts"}) ASSERT_EQ(::mkdir(Path(d).c_str(), 0700), 0);
  }

  std::map<std::string, std::string> Snapshot() const {
    std::map<std::string, std::string> all;
    for (const std::string& f : ListDir(run_dir())) all[f] = ReadFile(Path(f)).value_or("<dir>");
    return all;
  }

  // Every entry point that may write: each exits 1 and changes nothing.
  void ExpectRefusedUnchanged(const std::string& what) {
    const auto before = Snapshot();
    ProcessResult v = RunCli({"verify", runs()});
    EXPECT_EQ(v.exit_code, 1) << what << ": " << v.out << v.err;
    EXPECT_NE(v.out.find(what), std::string::npos) << v.out;
    ProcessResult rep = RunCli({"verify", "--repair", runs()});
    EXPECT_EQ(rep.exit_code, 1) << rep.out << rep.err;
    EXPECT_EQ(Snapshot(), before) << "verify --repair changed the run";
    ProcessResult ex = RunCli({"exec", "--runs-root", runs(), "--task", "t1", "--run", "r1", "--", "true"});
    EXPECT_EQ(ex.exit_code, 1) << ex.out << ex.err;
    EXPECT_EQ(Snapshot(), before) << "exec changed the run";
    // The readers give the same verdict.
    for (const char* verb : {"replay", "summary"}) {
      ProcessResult rd = RunCli({verb, run_dir()});
      EXPECT_EQ(rd.exit_code, 1) << verb << ": " << rd.out << rd.err;
    }
  }

  TempDir tmp_{"runlog-acknowledged"};
};

TEST_F(AcknowledgedTest, CleanClosedRunIsClean) {
  MakeClosedRun();
  ProcessResult v = RunCli({"verify", runs()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// One bit flipped in the last line of stdout.jsonl (seq 5, below W = 7).
TEST_F(AcknowledgedTest, FlippedBitInLastLineBelowFloor) {
  MakeClosedRun();
  std::string out = ReadFile(Path("stdout.jsonl")).value();
  const std::size_t at5 = out.size() - Chunk(5, "stdout").size();
  out[at5 + 30] = static_cast<char>(out[at5 + 30] ^ 4);
  ASSERT_TRUE(WriteFile(Path("stdout.jsonl"), out));
  ExpectRefusedUnchanged("stdout.jsonl:" + std::to_string(at5) + ":");
}

// `truncate -s -100 stdout.jsonl` on a closed run.
TEST_F(AcknowledgedTest, TruncatedClosedRun) {
  MakeClosedRun();
  const std::string out = ReadFile(Path("stdout.jsonl")).value();
  ASSERT_EQ(::truncate(Path("stdout.jsonl").c_str(), static_cast<off_t>(out.size() - 100)), 0);
  ExpectRefusedUnchanged("stdout.jsonl:");
}

// `sed -i 2d stdout.jsonl` on a closed run.
TEST_F(AcknowledgedTest, DeletedLineInClosedRun) {
  MakeClosedRun();
  ASSERT_TRUE(WriteFile(Path("stdout.jsonl"), Chunk(2, "stdout") + Chunk(4, "stdout") + Chunk(5, "stdout")));
  ExpectRefusedUnchanged("stdout.jsonl:");
}

// A 5-chunk conversation with line 2 deleted, or one bit flipped in its last
// line: `chat append` and `chat reconcile` are refused; seq 2 never names new content.
TEST_F(AcknowledgedTest, ConversationDamageBelowFloor) {
  const std::string root = tmp_ / "conv";
  const std::string dir = root + "/c1";
  ASSERT_EQ(::mkdir(root.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  std::vector<std::string> lines;
  for (int i = 1; i <= 5; ++i)
    lines.push_back(Seal("{\"seq\":" + std::to_string(i) + R"(,"role":"user","chunk":{"type":"text","text":"m)" +
                         std::to_string(i) + "\"}"));
  ASSERT_TRUE(WriteFile(dir + "/durable.seq", DurableSeq(5)));
  for (int variant = 0; variant < 2; ++variant) {
    std::string all;
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (variant != 0 || i != 1) all += lines[i];
    if (variant == 1) all[all.size() - 25] = static_cast<char>(all[all.size() - 25] ^ 1);
    ASSERT_TRUE(WriteFile(dir + "/chunks.jsonl", all));
    for (const char* verb : {"append", "reconcile"}) {
      ProcessResult r = RunCli({"chat", verb, "--conversations-root", root, "--id", "c1"});
      EXPECT_EQ(r.exit_code, 1) << verb << " variant " << variant << ": " << r.out << r.err;
      EXPECT_EQ(ReadFile(dir + "/chunks.jsonl").value(), all) << verb << " variant " << variant;
      EXPECT_EQ(ReadFile(dir + "/durable.seq").value(), DurableSeq(5)) << verb << " variant " << variant;
    }
    ProcessResult rep = RunCli({"verify", "--repair", dir});
    EXPECT_EQ(rep.exit_code, 1) << rep.out << rep.err;
    ProcessResult rd = RunCli({"replay", dir});
    EXPECT_EQ(rd.exit_code, 1) << "replay, variant " << variant << ": " << rd.out << rd.err;
    EXPECT_EQ(ReadFile(dir + "/chunks.jsonl").value(), all) << "verify --repair, variant " << variant;
  }
}

// A run written by the TypeScript implementation of local-run.ts: the
// context in every line, no crc, any key order, eventIds like "evt-7", no
// durable.seq. verify is clean, ls counts it, --repair changes nothing, and
// exec refuses it (it holds records) without changing a byte.
TEST_F(AcknowledgedTest, ForeignRunIsRecordsForEveryEntryPoint) {
  MakeClosedRun();
  ASSERT_EQ(::unlink(Path("durable.seq").c_str()), 0);
  const std::string ctx = R"("taskId":"t1","stepId":"s1","runId":"r1")";
  auto event = [&](int seq, const char* type, const char* data) {
    return "{" + ctx + ",\"seq\":" + std::to_string(seq) + R"(,"channel":"worker","eventId":"evt-)" +
           std::to_string(seq) + "\",\"type\":\"" + type + R"(","level":"info","createdAt":")" + kAt +
           R"(","message":"m","data":)" + data + R"(,"renderedLine":"r"})" + "\n";
  };
  auto chunk = [&](int seq) {
    return R"({"text":"out )" + std::to_string(seq) + R"(\n","seq":)" + std::to_string(seq) +
           R"(,"channel":"stdout","createdAt":")" + kAt + "\"," + ctx + "}\n";
  };
  ASSERT_TRUE(WriteFile(Path("worker.jsonl"), event(1, "worker_started", "{}") +
                                                  event(6, "worker_exited", "{\"exitCode\":0}") +
                                                  event(7, "step_completed", "{}")));
  ASSERT_TRUE(WriteFile(Path("stdout.jsonl"), chunk(2) + chunk(3) + chunk(4) + chunk(5)));
  const auto before = Snapshot();

  ProcessResult v = RunCli({"verify", runs()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  ProcessResult rep = RunCli({"verify", "--repair", runs()});
  EXPECT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  EXPECT_EQ(Snapshot(), before) << "verify --repair changed a foreign run";

  ProcessResult ls = RunCli({"ls", runs(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("\"entries\":7"), std::string::npos) << ls.out;

  ProcessResult replay = RunCli({"replay", run_dir()});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_EQ(std::count(replay.out.begin(), replay.out.end(), '\n'), 7) << replay.out;

  ProcessResult ex = RunCli({"exec", "--runs-root", runs(), "--task", "t1", "--run", "r1", "--", "true"});
  EXPECT_EQ(ex.exit_code, 2) << ex.out << ex.err;  // README: a run that already holds records is bad usage
  EXPECT_NE(ex.err.find("already holds records"), std::string::npos) << ex.err;
  EXPECT_EQ(Snapshot(), before) << "exec changed a foreign run";

  // A torn tail above the floor (no durable.seq; state.json says 7) is cut by
  // --repair; the whole foreign lines stay.
  ASSERT_TRUE(WriteFile(Path("stdout.jsonl"), chunk(2) + chunk(3) + chunk(4) + chunk(5) + "{\"text\":\"par"));
  ProcessResult torn = RunCli({"verify", "--repair", runs()});
  EXPECT_EQ(ReadFile(Path("stdout.jsonl")).value(), chunk(2) + chunk(3) + chunk(4) + chunk(5)) << torn.out << torn.err;
}

// --- Readers of a root never drop a run silently.

// 1,100 runs read at `ulimit -n 1024`: every one is shown.
TEST_F(AcknowledgedTest, ManyRunsUnderALowDescriptorLimitAreAllShown) {
  constexpr int kRuns = 1100;
  ASSERT_EQ(::mkdir(runs().c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((runs() + "/t").c_str(), 0700), 0);
  for (int i = 0; i < kRuns; ++i) {
    const std::string d = runs() + "/t/r" + std::to_string(i);
    ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(d + "/stdout.jsonl", Chunk(1, "stdout")));
  }
  const std::string cmd = "ulimit -n 1024 && exec '" + std::string(RUNLOG_CLI_PATH) + "' replay --format jsonl '" +
                          runs() + "'";
  ProcessResult r = RunProcess({"/bin/sh", "-c", cmd}, std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), kRuns);
}

// A stray chunks.jsonl in a run folder: an error naming the folder, exit 1,
// never a run hidden as an empty conversation.
TEST_F(AcknowledgedTest, RunFolderWithAStrayChunksFileIsAnError) {
  MakeClosedRun();
  ASSERT_TRUE(WriteFile(Path("chunks.jsonl"), ""));
  for (const std::string& target : {run_dir(), runs()}) {
    for (const char* verb : {"replay", "summary"}) {
      ProcessResult r = RunCli({verb, target});
      EXPECT_EQ(r.exit_code, 1) << verb << " " << target << ": " << r.out << r.err;
      EXPECT_NE(r.err.find("chunks.jsonl"), std::string::npos) << r.err;
    }
  }
}

// verify reports a symlink anywhere in the trees it walks: a task folder
// and an artifacts folder that point outside the root.
TEST_F(AcknowledgedTest, VerifyReportsSymlinksInTheTree) {
  MakeClosedRun();
  const std::string outside = tmp_ / "outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(::rmdir(Path("artifacts").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), Path("artifacts").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (runs() + "/t2").c_str()), 0);
  ProcessResult v = RunCli({"verify", runs()});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find(Path("artifacts") + ":0: is a symbolic link"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find(runs() + "/t2:0: is a symbolic link"), std::string::npos) << v.out;
}

// A folder that cannot be read is a named error with exit 1.
TEST_F(AcknowledgedTest, UnreadableFolderIsANamedError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every folder";
  MakeClosedRun();
  ASSERT_EQ(::chmod((runs() + "/t1").c_str(), 0), 0);
  ProcessResult r = RunCli({"replay", runs()});
  ASSERT_EQ(::chmod((runs() + "/t1").c_str(), 0700), 0);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("t1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace runlog::testing
