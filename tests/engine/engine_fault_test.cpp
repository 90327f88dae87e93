// tests/engine/engine_fault_test.cpp — SPEC invariant 8 (honest errors) on a
// file system that fails on demand (support/fault_fs.h): a failed fdatasync or
// write fails the acknowledgement of every record it covers, with the OS error
// and the path, promptly; the run is fail-stopped (no later success is taken
// as durability); other runs go on; reopening re-checks the run from disk.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/fault_fs.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class EngineFaultTest : public EngineTestBase {
 protected:
  /// syncfs_files: Options::syncfsFiles (0: one fdatasync per file, so a
  /// fault on one file's fdatasync strikes).
  Options FaultOptions(Durability d, std::size_t syncfs_files = 0) {
    Options o = MakeOptions(d);
    o.fs = fs_;
    o.syncfsFiles = syncfs_files;
    return o;
  }
  std::shared_ptr<FaultFs> fs_ = std::make_shared<FaultFs>();
};

// Out of descriptors (EMFILE) while state.json is replaced: the replacement is
// retried by later state waves, the run's records go on, and state.json
// catches up once descriptors are back (state.json is not what records wait
// for, and recovery rebuilds it). `runlog run` at a low `ulimit -n` lost runs
// this way: one failed state write fail-stopped the run after worker_started.
class StateOutOfDescriptorsTest : public EngineFaultTest {
 protected:
  /// A run whose state.json replacements fail with EMFILE from now on, and a
  /// worker_started pushed (a status change: state.json is to be replaced).
  void Start() {
    engine_ = OpenEngine(FaultOptions(Durability::batch));
    ASSERT_NE(engine_, nullptr);
    run_ = OpenRun(*engine_, "task", "r");
    producer_ = std::make_unique<Producer>(*engine_);
    fs_->Fail(FaultFs::Op::datasync, "state.json.tmp", EMFILE);
    ASSERT_TRUE(producer_->push_event(run_, {EventType::worker_started, LogLevel::info, "started", R"({"pid":1})"}).ok());
  }
  std::unique_ptr<Engine> engine_;
  runlog::Run run_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(StateOutOfDescriptorsTest, RetriedAndTheRunGoesOn) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Producer& p = *producer_;
  runlog::Run& run = run_;
  EXPECT_EQ(PushStdoutAndWait(p, run, "after\n"), 2u);
  const auto until = Clock::now() + 5s;
  while (fs_->failures() < 3 && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_GE(fs_->failures(), 3) << "the state write was not retried";
  EXPECT_TRUE(run.health().ok()) << run.health().to_string();
  EXPECT_EQ(PushStdoutAndWait(p, run, "more\n"), 3u);
  EXPECT_EQ(ReadState(run_dir("task", "r")).status, "prepared") << "state.json could not have been written";
  fs_->Clear();
  const auto caught_up = Clock::now() + 5s;
  while (ReadState(run_dir("task", "r")).status != "running" && Clock::now() < caught_up)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ReadState(run_dir("task", "r")).status, "running");
  EXPECT_TRUE(run.close().ok());
}

// A shortage that lasts (about 5 s of retries) fails the run like any error,
// with the errno.
TEST_F(StateOutOfDescriptorsTest, ForLongFailsTheRun) {
  ASSERT_NO_FATAL_FAILURE(Start());
  runlog::Run& run = run_;
  const auto until = Clock::now() + 20s;
  while (run.health().ok() && Clock::now() < until) std::this_thread::sleep_for(20ms);
  ASSERT_FALSE(run.health().ok()) << "an endless shortage never failed the run";
  EXPECT_EQ(run.health().sys_errno(), EMFILE) << run.health().to_string();
}

TEST_F(EngineFaultTest, FailedFsyncFailsEveryRecordItCoversWithErrnoAndPath) {
  auto engine = OpenEngine(FaultOptions(Durability::batch));
  ASSERT_NE(engine, nullptr);
  runlog::Run bad = OpenRun(*engine, "task", "bad");
  runlog::Run good = OpenRun(*engine, "task", "good");
  fs_->Fail(FaultFs::Op::datasync, "/bad/stdout.jsonl", EIO);
  Producer p(*engine);
  std::vector<Ticket> tickets;
  for (int i = 0; i < 10; ++i) {
    auto t = p.push_stdout(bad, "doomed " + std::to_string(i) + "\n");
    if (!t.ok()) {  // the run already fail-stopped: the push says why
      EXPECT_EQ(t.status().sys_errno(), EIO) << t.status().to_string();
      EXPECT_NE(t.status().message().find("bad/stdout.jsonl"), std::string::npos) << t.status().to_string();
      break;
    }
    tickets.push_back(t.value());
  }
  ASSERT_FALSE(tickets.empty());
  const auto start = Clock::now();
  for (const Ticket& t : tickets) {
    auto seq = t.wait();
    ASSERT_FALSE(seq.ok()) << "acknowledged as durable after a failed fdatasync: seq " << seq.value();
    EXPECT_EQ(seq.status().sys_errno(), EIO) << seq.status().to_string();
    EXPECT_NE(seq.status().message().find("bad/stdout.jsonl"), std::string::npos) << seq.status().to_string();
  }
  EXPECT_LT(Clock::now() - start, 1s) << "the failure took longer than a second to report";
  EXPECT_GT(fs_->failures(), 0);
  EXPECT_FALSE(bad.health().ok());
  EXPECT_EQ(engine->stats().failedStreams, 1u);
  EXPECT_LT(bad.durable_seq(), 1u);

  // Another run goes on.
  EXPECT_EQ(PushStdoutAndWait(p, good, "fine\n"), 1u);
  EXPECT_TRUE(good.health().ok());

  // Fail-stopped: with the fault gone, the run still refuses, never retries.
  fs_->Clear();
  auto later = p.push_stdout(bad, "later\n");
  if (later.ok()) {
    EXPECT_FALSE(later->wait().ok()) << "a failed run acknowledged a later record";
  }
  EXPECT_FALSE(bad.flush().ok());
  EXPECT_FALSE(bad.close().ok());
  EXPECT_TRUE(good.close().ok());
}

// A wave made durable by one syncfs: every log file it covers is synced by
// that call (no fdatasync of a log file at all), and the records survive a
// reopen.
TEST_F(EngineFaultTest, AWaveOfManyFilesIsOneSyncfsNotAnFdatasyncPerFile) {
  std::vector<std::uint64_t> last(4, 0);
  {
    auto engine = OpenEngine(FaultOptions(Durability::batch, 1));
    ASSERT_NE(engine, nullptr);
    std::vector<runlog::Run> runs;
    for (int i = 0; i < 4; ++i) runs.push_back(OpenRun(*engine, "task", "r" + std::to_string(i)));
    // From here every fdatasync of a log file fails: only syncfs can make them durable.
    fs_->Fail(FaultFs::Op::datasync, ".jsonl", EIO);
    Producer p(*engine);
    for (int round = 0; round < 5; ++round) {
      std::vector<Ticket> tickets;
      for (auto& run : runs) {
        tickets.push_back(p.push_stdout(run, "out " + std::to_string(round) + "\n").value());
        tickets.push_back(p.push_stderr(run, "err " + std::to_string(round) + "\n").value());
      }
      for (const Ticket& t : tickets) ASSERT_TRUE(t.wait().ok()) << t.wait().status().to_string();
    }
    EXPECT_EQ(fs_->failures(), 0) << "a log file was fdatasync-ed one by one";
    EXPECT_GT(engine->stats().fsyncs, 0u);
    EXPECT_LE(engine->stats().fsyncs, engine->stats().syncWaves);  // one syncfs per wave
    for (auto& run : runs) EXPECT_TRUE(run.close().ok());
  }
  fs_->Clear();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(CheckRun(run_dir("task", "r" + std::to_string(i)), &last[i]));
    EXPECT_EQ(last[i], 10u);
  }
}

// A failed syncfs cannot be pinned on one file: every stream with bytes it
// was to make durable is fail-stopped, with the errno and the root's path;
// a run with nothing unsynced goes on.
TEST_F(EngineFaultTest, FailedSyncfsFailStopsEveryStreamOfTheWave) {
  auto engine = OpenEngine(FaultOptions(Durability::batch, 1));
  ASSERT_NE(engine, nullptr);
  runlog::Run a = OpenRun(*engine, "task", "a");
  runlog::Run b = OpenRun(*engine, "task", "b");
  runlog::Run idle = OpenRun(*engine, "task", "idle");
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, a, "kept a\n"), 1u);
  EXPECT_EQ(PushStdoutAndWait(p, b, "kept b\n"), 1u);
  fs_->Fail(FaultFs::Op::syncfs, "", EIO);
  Ticket ta = p.push_stdout(a, "doomed a\n").value();
  Ticket tb = p.push_stderr(b, "doomed b\n").value();
  for (const Ticket* t : {&ta, &tb}) {
    auto seq = t->wait();
    ASSERT_FALSE(seq.ok()) << "acknowledged after a failed syncfs: seq " << seq.value();
    EXPECT_EQ(seq.status().sys_errno(), EIO) << seq.status().to_string();
    EXPECT_NE(seq.status().message().find("syncfs"), std::string::npos) << seq.status().to_string();
  }
  EXPECT_NE(ta.wait().status().message().find("a/stdout.jsonl"), std::string::npos) << ta.wait().status().to_string();
  EXPECT_NE(tb.wait().status().message().find("b/stderr.jsonl"), std::string::npos) << tb.wait().status().to_string();
  EXPECT_EQ(a.durable_seq(), 1u);
  EXPECT_EQ(b.durable_seq(), 1u);
  EXPECT_FALSE(a.health().ok());
  EXPECT_FALSE(b.health().ok());
  EXPECT_EQ(engine->stats().failedStreams, 2u);
  // Fail-stopped: with the fault gone the runs still refuse; the idle run goes on.
  fs_->Clear();
  auto later = p.push_stdout(a, "later\n");
  if (later.ok()) {
    EXPECT_FALSE(later->wait().ok()) << "a failed run acknowledged a later record";
  }
  EXPECT_TRUE(idle.health().ok());
  EXPECT_EQ(PushStdoutAndWait(p, idle, "fine\n"), 1u);
  EXPECT_TRUE(idle.close().ok());
}

// Linux reports a syncfs error once per file system and marks the failed
// pages clean, whichever file they belonged to: bytes written while the failed
// syncfs ran (the next wave's) may be lost too, and the next syncfs would not
// say so. So a failed syncfs fail-stops those streams as well.
TEST_F(EngineFaultTest, AFailedSyncfsAlsoFailStopsStreamsWrittenWhileItRan) {
  Options o = FaultOptions(Durability::batch, 1);
  o.maxBatchDelay = std::chrono::microseconds(500);
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run a = OpenRun(*engine, "task", "a");
  runlog::Run b = OpenRun(*engine, "task", "b");
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, a, "kept\n"), 1u);
  fs_->HoldSyncfs();
  fs_->Fail(FaultFs::Op::syncfs, "", EIO);
  Ticket ta = p.push_stdout(a, "covered by the failing syncfs\n").value();
  const auto deadline = Clock::now() + 10s;
  while (fs_->held() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(fs_->held(), 1) << "the wave's syncfs never started";
  Ticket tb = p.push_stdout(b, "written while it ran\n").value();
  while (b.appended_seq() < 1 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(b.appended_seq(), 1u) << "b's batch was not written during the syncfs";
  fs_->Clear();  // the next syncfs succeeds: only the rule above can fail b
  fs_->ReleaseSyncfs();
  EXPECT_FALSE(ta.wait().ok());
  auto seq = tb.wait();
  ASSERT_FALSE(seq.ok()) << "acknowledged bytes written while a syncfs failed: seq " << seq.value();
  EXPECT_EQ(seq.status().sys_errno(), EIO) << seq.status().to_string();
  EXPECT_NE(seq.status().message().find("b/stdout.jsonl"), std::string::npos) << seq.status().to_string();
  EXPECT_EQ(b.durable_seq(), 0u);
}

// While a wave syncs, the records that arrive cannot be acknowledged before it
// ends: their batch is written once it is half as old as the last wave took
// (or full), not every maxBatchDelay. With 256 runs each batch is one pwritev
// per file, so writing every millisecond during a 30 ms wave cost W3 a third
// of its rate.
TEST_F(EngineFaultTest, WhileAWaveSyncsABatchWaitsForHalfTheLastWaveOrUntilFull) {
  Options o = FaultOptions(Durability::batch, 1);
  o.maxBatchDelay = std::chrono::microseconds(1000);
  o.maxBatchBytes = 64 * 1024;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "r");
  Producer p(*engine);
  const auto deadline = Clock::now() + 20s;
  auto hold_until_in_flight = [&] {
    while (fs_->held() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(fs_->held(), 1) << "the wave's syncfs never started";
  };
  // A long wave (held 1.2 s): the next batches may wait up to 600 ms.
  fs_->HoldSyncfs();
  Ticket slow = p.push_stdout(run, "a slow wave\n").value();
  hold_until_in_flight();
  std::this_thread::sleep_for(1200ms);
  fs_->ReleaseSyncfs();
  ASSERT_TRUE(slow.wait().ok());

  fs_->HoldSyncfs();
  Ticket first = p.push_stdout(run, "the wave in flight\n").value();
  hold_until_in_flight();
  const std::uint64_t batches = engine->stats().batches;
  std::vector<Ticket> tickets;
  for (int i = 0; i < 20; ++i) {  // ~40 ms of small records: 20+ batches at a 1 ms delay
    tickets.push_back(p.push_stdout(run, "small " + std::to_string(i) + "\n").value());
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(engine->stats().batches, batches) << "small batches were written while the wave could not end";
  // A full batch (64 KiB) is written at once, wave or not.
  tickets.push_back(p.push_stdout(run, std::string(70 * 1024, 'x') + "\n").value());
  while (engine->stats().batches == batches && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(engine->stats().batches, batches + 1) << "a full batch waited";
  fs_->ReleaseSyncfs();
  ASSERT_TRUE(first.wait().ok());
  for (const Ticket& t : tickets) ASSERT_TRUE(t.wait().ok());
  EXPECT_EQ(run.durable_seq(), 23u);
  EXPECT_TRUE(run.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "r"), &last));
  EXPECT_EQ(last, 23u);
}

// While records keep coming, a batch is not written before it is as old as
// the last batch took to write: a write costs about one pwritev per file
// whatever the batch's size, so slow writes mean larger batches, not a
// sequencer that only writes. After one write of 300 ms, the next batch
// waits ~300 ms, not 1 ms (the budget holds ~200 ms of records: the queue
// does not drain meanwhile).
TEST_F(EngineFaultTest, WhileRecordsKeepComingABatchWaitsAsLongAsTheLastWriteTook) {
  Options o = FaultOptions(Durability::none);
  o.maxBatchDelay = std::chrono::microseconds(1000);
  o.maxBatchBytes = std::size_t{256} << 20;
  o.inFlightBudget = std::size_t{16} << 20;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "r");
  fs_->SlowWrites("/r/stdout.jsonl", 300ms, 1);  // the first batch's write
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> pushed{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 2; ++t) {  // faster than the sequencer: the queue does not drain
    producers.emplace_back([&] {
      Producer p(*engine);
      while (!stop.load()) {
        if (!p.push_stdout(run, "\"quoted\" \"text\"\n").ok()) return;
        pushed.fetch_add(1);
      }
    });
  }
  const auto deadline = Clock::now() + 20s;
  while (fs_->slow_writes_done() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(10ms);
  const std::uint64_t after_slow = engine->stats().batches;
  std::this_thread::sleep_for(50ms);
  const std::uint64_t later = engine->stats().batches;
  while (engine->stats().batches == later && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  const std::uint64_t resumed = engine->stats().batches;
  stop.store(true);
  for (auto& t : producers) t.join();
  EXPECT_EQ(fs_->slow_writes_done(), 1);
  EXPECT_EQ(later, after_slow) << "a batch was written within 60 ms of a 300 ms write";
  EXPECT_GT(resumed, later) << "no batch after the slow one";
  ASSERT_TRUE(engine->flush().ok());
  EXPECT_EQ(run.durable_seq(), pushed.load());
  EXPECT_TRUE(run.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "r"), &last));
  EXPECT_EQ(last, pushed.load());
}

// A sequencer that is behind writes a batch once it is full: at maxBatchBytes
// when it touches few runs, and up to 4 x that (48 KiB per run it touches)
// when it touches many, since each file's write costs about the same whatever
// its size. The sequencer is held in a 1 s write while 8 MiB are queued, then
// drains them: spread over 64 runs they go out in batches of about 256 KiB,
// into one run in batches of 64 KiB.
TEST_F(EngineFaultTest, ABatchOverManyRunsGrowsPastMaxBatchBytes) {
  auto batches_for = [&](int runs) -> std::uint64_t {
    auto fs = std::make_shared<FaultFs>();
    Options o = MakeOptions(Durability::none);
    o.fs = fs;
    o.runsRoot = tmp() + "/runs-" + std::to_string(runs);
    o.maxBatchBytes = 64 * 1024;
    o.maxBatchDelay = std::chrono::seconds(1);
    auto engine = OpenEngine(o);
    if (engine == nullptr) return 0;
    std::vector<runlog::Run> handles;
    for (int r = 0; r < runs; ++r) handles.push_back(OpenRun(*engine, "task", "r" + std::to_string(r)));
    Producer p(*engine);
    fs->SlowWrites("/r0/stdout.jsonl", 1000ms, 1);
    EXPECT_TRUE(p.push_stdout(handles[0], "first\n").ok());  // its batch goes out at once, into the slow write
    std::this_thread::sleep_for(50ms);
    const std::uint64_t before = engine->stats().batches;
    const std::string text(1000, 'x');
    for (int i = 0; i < 8192; ++i) EXPECT_TRUE(p.push_stdout(handles[static_cast<std::size_t>(i % runs)], text).ok());
    EXPECT_EQ(fs->slow_writes_done(), 0) << "the 8 MiB were not all queued while the sequencer was held";
    EXPECT_TRUE(engine->flush().ok());
    EXPECT_EQ(fs->slow_writes_done(), 1);
    return engine->stats().batches - before;
  };
  const std::uint64_t spread = batches_for(64);
  const std::uint64_t one = batches_for(1);
  // About 8.8 MiB encoded: ~34 batches of 256 KiB, ~137 of 64 KiB.
  EXPECT_LE(spread, 60u) << "batches over 64 runs; " << one << " into one run";
  EXPECT_GE(spread, 20u) << "batches over 64 runs";
  EXPECT_GE(one, 110u) << "batches into one run; " << spread << " over 64 runs";
}

TEST_F(EngineFaultTest, FailedWriteFailsTheRecordAndOtherRunsGoOn) {
  auto engine = OpenEngine(FaultOptions(Durability::none));
  ASSERT_NE(engine, nullptr);
  runlog::Run bad = OpenRun(*engine, "task", "bad");
  runlog::Run good = OpenRun(*engine, "task", "good");
  fs_->Fail(FaultFs::Op::pwritev, "/bad/stderr.jsonl", ENOSPC);
  Producer p(*engine);
  auto t = p.push_stderr(bad, "no room\n");
  ASSERT_TRUE(t.ok());
  auto seq = t->wait();
  ASSERT_FALSE(seq.ok());
  EXPECT_EQ(seq.status().sys_errno(), ENOSPC) << seq.status().to_string();
  EXPECT_NE(seq.status().message().find("bad/stderr.jsonl"), std::string::npos) << seq.status().to_string();
  EXPECT_FALSE(bad.health().ok());
  EXPECT_EQ(PushStdoutAndWait(p, good, "fine\n"), 1u);
  EXPECT_TRUE(good.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "good"), &last));
  EXPECT_EQ(last, 1u);
}

TEST_F(EngineFaultTest, ReopeningAFailedRunRechecksItFromDisk) {
  {
    auto engine = OpenEngine(FaultOptions(Durability::batch));
    ASSERT_NE(engine, nullptr);
    runlog::Run bad = OpenRun(*engine, "task", "bad");
    Producer p(*engine);
    EXPECT_EQ(PushStdoutAndWait(p, bad, "kept\n"), 1u);
    fs_->Fail(FaultFs::Op::datasync, "/bad/stdout.jsonl", EIO);
    auto t = p.push_stdout(bad, "maybe\n");
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->wait().ok());
  }
  fs_->Clear();
  auto engine = OpenEngine(MakeOptions(Durability::batch));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "bad");
  ASSERT_TRUE(run);
  EXPECT_TRUE(run.health().ok());
  const std::uint64_t n = run.appended_seq();
  EXPECT_GE(n, 1u);  // the durable record is there; the unacknowledged one may be too
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, run, "after\n"), n + 1);
  ASSERT_TRUE(run.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("task", "bad"), &last));
  EXPECT_EQ(last, n + 1);
  EXPECT_EQ(ParseFile(run_dir("task", "bad"), "stdout.jsonl").front().text, "kept\n");
}

}  // namespace
}  // namespace runlog::testing
