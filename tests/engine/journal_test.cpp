// tests/engine/journal_test.cpp — group commit through the journal
// (io/journal.h): a wave is one fdatasync of the journal, never of the run
// files; a clean close leaves no journal; a journal whose writer stopped is
// finished by every entry point before it gives a verdict, so acknowledged
// bytes that the run files lost (a power loss) come back whoever looks first.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/fault_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

namespace fs = std::filesystem;

class JournalTest : public EngineTestBase {
 protected:
  Options JournalOptions() {
    Options o = MakeOptions(Durability::batch);
    o.journal = true;
    return o;
  }
  std::string journal_dir() const { return root() + "/.journal"; }
  std::vector<std::string> JournalFiles() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(journal_dir(), ec)) out.push_back(e.path().string());
    return out;
  }
  std::string stdout_path() const { return run_dir("task", "r") + "/stdout.jsonl"; }

  /// The state a power loss leaves when the journal was synced and the run
  /// file was not: 40 acknowledged records in the journal, the run file
  /// missing its last `lost` bytes (cut in the middle of a line), durable.seq
  /// still saying 40. Made from a live journal copied aside (the copy has no
  /// writer: a stopped writer's journal) before a clean close.
  void MakePowerLossState(std::size_t lost) {
    {
      auto engine = OpenEngine(JournalOptions());
      ASSERT_NE(engine, nullptr);
      runlog::Run run = OpenRun(*engine, "task", "r");
      Producer p(*engine);
      for (int i = 1; i <= 40; ++i)
        ASSERT_EQ(PushStdoutAndWait(p, run, "line " + std::to_string(i) + "\n"), static_cast<std::uint64_t>(i));
      const auto live = JournalFiles();
      ASSERT_EQ(live.size(), 1u) << "one journal file while the engine lives";
      fs::copy_file(live[0], journal_dir() + "/0000000000000000.wal");
      ASSERT_TRUE(run.close().ok());
    }
    ASSERT_EQ(JournalFiles().size(), 1u) << "the clean close removed its own journal, not the copy";
    auto content = ReadFile(stdout_path());
    ASSERT_TRUE(content.has_value());
    full_ = *content;
    ASSERT_GT(full_.size(), lost);
    ASSERT_EQ(::truncate(stdout_path().c_str(), static_cast<off_t>(full_.size() - lost)), 0);
  }
  std::string full_;  // the run file as it was acknowledged
};

TEST_F(JournalTest, ACleanCloseLeavesNoJournalAndTheRunIsWhole) {
  {
    auto engine = OpenEngine(JournalOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "task", "r");
    Producer p(*engine);
    for (int i = 1; i <= 100; ++i) ASSERT_EQ(PushStdoutAndWait(p, run, "x\n"), static_cast<std::uint64_t>(i));
    EXPECT_EQ(JournalFiles().size(), 1u);
    EXPECT_GT(engine->stats().fsyncs, 0u);
  }
  EXPECT_TRUE(JournalFiles().empty());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "r"), &last));
  EXPECT_EQ(last, 100u);
}

// In journal mode no wave fdatasyncs a run file: a failing fdatasync of
// stdout.jsonl changes nothing, a failing fdatasync of the journal fails the
// acknowledgement with the errno and the journal's name, and the run stops.
TEST_F(JournalTest, AWaveSyncsTheJournalNotTheRunFiles) {
  auto ffs = std::make_shared<FaultFs>();
  Options o = JournalOptions();
  o.fs = ffs;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "r");
  Producer p(*engine);
  ffs->Fail(FaultFs::Op::datasync, "stdout.jsonl", EIO);
  EXPECT_EQ(PushStdoutAndWait(p, run, "acknowledged through the journal\n"), 1u);
  ffs->Fail(FaultFs::Op::datasync, ".wal", EIO);
  auto t = p.push_stdout(run, "its journal sync fails\n");
  ASSERT_TRUE(t.ok());
  auto seq = t->wait();
  ASSERT_FALSE(seq.ok()) << "acknowledged after the journal's fdatasync failed";
  EXPECT_EQ(seq.status().sys_errno(), EIO) << seq.status().to_string();
  EXPECT_NE(seq.status().message().find(".wal"), std::string::npos) << seq.status().to_string();
  EXPECT_FALSE(run.health().ok());
  EXPECT_EQ(run.durable_seq(), 1u);
  ffs->Clear();
}

// Small journal files: rotations and checkpoints happen while records flow,
// the retired files go, and nothing acknowledged is missing.
TEST_F(JournalTest, RetiredFilesGoAtCheckpoints) {
  Options o = JournalOptions();
  o.journalFileBytes = 16 * 1024;
  {
    auto engine = OpenEngine(o);
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "task", "r");
    Producer p(*engine);
    const std::string chunk(500, 'y');
    for (int i = 1; i <= 400; ++i) ASSERT_EQ(PushStdoutAndWait(p, run, chunk + "\n"), static_cast<std::uint64_t>(i));
    // 400 x ~560 bytes is 14 files of 16 KiB: all but the current one and at
    // most the last few retired ones have gone.
    EXPECT_LE(JournalFiles().size(), 4u);
  }
  EXPECT_TRUE(JournalFiles().empty());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "r"), &last));
  EXPECT_EQ(last, 400u);
}

// Every entry point, each on its own copy of the power-loss state, finishes
// the journal first and gives the same verdict: 40 records, the file as it
// was acknowledged, the journal gone. Without the journal the missing tail
// lies below durable.seq: corruption.
TEST_F(JournalTest, EveryEntryPointFinishesAStoppedWritersJournalFirst) {
  struct EntryPoint {
    const char* name;
    std::function<void()> run;
  };
  const std::vector<EntryPoint> entries = {
      {"engine open",
       [this] {
         Options o = MakeOptions(Durability::batch);
         o.journal = false;  // any engine finishes journals, journaling or not
         auto engine = OpenEngine(o);
         ASSERT_NE(engine, nullptr);
         runlog::Run run = OpenRun(*engine, "task", "r");
         EXPECT_EQ(run.durable_seq(), 40u);
         Producer p(*engine);
         EXPECT_EQ(PushStdoutAndWait(p, run, "after\n"), 41u);
         ASSERT_TRUE(run.close().ok());
       }},
      {"runlog verify",
       [this] {
         auto r = RunCli({"verify", root()});
         EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.out << r.err;
       }},
      {"runlog replay",
       [this] {
         auto r = RunCli({"replay", "--format", "text", run_dir("task", "r")});
         EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
         EXPECT_NE(r.out.find("line 40\n"), std::string::npos) << r.out;
       }},
      {"runlog ls",
       [this] {
         auto r = RunCli({"ls", "--json", root()});
         EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
         EXPECT_NE(r.out.find("\"entries\":40,"), std::string::npos) << r.out;
       }},
  };
  for (const EntryPoint& e : entries) {
    SCOPED_TRACE(e.name);
    std::error_code ec;
    fs::remove_all(root(), ec);
    MakePowerLossState(/*lost=*/37);
    if (HasFatalFailure()) return;
    e.run();
    EXPECT_TRUE(JournalFiles().empty()) << "the stopped writer's journal is still there";
    auto now = ReadFile(stdout_path());
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->substr(0, full_.size()), full_) << "the acknowledged bytes did not come back";
  }
}

// The same state with the journal removed by hand: the acknowledged tail is
// gone for good, and every entry point says so (corruption below the floor),
// instead of silently serving less.
TEST_F(JournalTest, WithoutItsJournalTheLossIsCorruption) {
  MakePowerLossState(/*lost=*/37);
  for (const auto& f : JournalFiles()) fs::remove(f);
  auto r = RunCli({"verify", root()});
  EXPECT_EQ(r.exit_code, 1) << r.describe() << "\n" << r.out << r.err;
  Options o = MakeOptions(Durability::batch);
  auto engine = Engine::open(o);
  ASSERT_TRUE(engine.ok());
  auto run = engine.value()->open_run(Meta("task", "r"));
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), Errc::corruption) << run.status().to_string();
}

}  // namespace
}  // namespace runlog::testing
