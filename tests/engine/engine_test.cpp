// tests/engine/engine_test.cpp — the engine end to end on real files: gap-free
// seqs and per-producer order under concurrent producers, what a Ticket
// reports, the run state machine, close, and reopening (recovery) a run.
//
// Text encoding is in engine_text_test.cpp, the in-flight budget in
// engine_budget_test.cpp, ids/paths/modes/options in engine_safety_test.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

std::string DurabilityName(const ::testing::TestParamInfo<Durability>& info) {
  return info.param == Durability::batch ? "batch" : "none";
}

// Polls `pred` every 5 ms for up to `limit`; true once it holds.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::size_t LineCount(const std::string& dir, const char* file) { return ReadLines(dir + "/" + file).size(); }

// =============================================================== ordering

class EngineOrderTest : public ::testing::TestWithParam<Durability>, public EngineFixture {};

// N producer threads x M runs, K records from each thread to each run, mixing
// stdout, stderr and lifecycle events. Each record names its thread and a
// per-(thread, run) counter.
TEST_P(EngineOrderTest, ConcurrentProducersGiveGapFreeSeqsInPushOrder) {
  constexpr int kThreads = 4, kRuns = 8, kPerRun = 300;
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  std::vector<runlog::Run> runs;
  for (int r = 0; r < kRuns; ++r) runs.push_back(OpenRun(*engine, "order", "run-" + std::to_string(r)));

  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Producer p(*engine);
      for (int c = 0; c < kPerRun; ++c) {
        for (int r = 0; r < kRuns; ++r) {
          const runlog::Run& run = runs[static_cast<std::size_t>((r + t) % kRuns)];
          const std::string text = "t=" + std::to_string(t) + " c=" + std::to_string(c) + "\n";
          Result<Ticket> res = Ticket();
          if (c % 25 == 24)
            res = p.push_event(run, {EventType::worker_execution_deferred, LogLevel::debug, "tick",
                                     "{\"thread\":" + std::to_string(t) + ",\"counter\":" + std::to_string(c) + "}"});
          else if (c % 10 == 9)
            res = p.push_stderr(run, text);
          else
            res = p.push_stdout(run, text);
          if (!res.ok()) ++failures[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[static_cast<std::size_t>(t)], 0) << "thread " << t;
  for (const runlog::Run& run : runs) ASSERT_TRUE(run.close().ok());

  std::uint64_t total_lines = 0, total_bytes = 0;
  for (int r = 0; r < kRuns; ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    const std::string dir = run_dir("order", "run-" + std::to_string(r));
    std::uint64_t last = 0;
    ASSERT_TRUE(CheckRun(dir, &last));
    EXPECT_EQ(last, std::uint64_t{kThreads} * kPerRun);

    // Per thread: the counters, read in seq order, are 0, 1, 2, ... exactly.
    std::vector<Record> recs = ParseRun(dir);
    std::sort(recs.begin(), recs.end(), [](const Record& a, const Record& b) { return a.seq < b.seq; });
    std::map<int, std::vector<int>> counters;
    for (const Record& rec : recs) {
      int t = -1, c = -1;
      if (rec.channel == "worker")
        ASSERT_EQ(std::sscanf(rec.data.c_str(), "{\"thread\":%d,\"counter\":%d}", &t, &c), 2) << rec.data;
      else
        ASSERT_EQ(std::sscanf(rec.text.c_str(), "t=%d c=%d", &t, &c), 2) << rec.text;
      counters[t].push_back(c);
    }
    ASSERT_EQ(counters.size(), std::size_t{kThreads});
    for (auto& [t, cs] : counters) {
      std::vector<int> want(kPerRun);
      for (int i = 0; i < kPerRun; ++i) want[static_cast<std::size_t>(i)] = i;
      EXPECT_EQ(cs, want) << "thread " << t << ": counters not in push order";
    }

    const runlog::Run& run = runs[static_cast<std::size_t>(r)];
    LocalRunLogSummary s = run.summary();
    EXPECT_EQ(s.totalEntries, last);
    EXPECT_EQ(s.lastSeq, last);
    EXPECT_EQ(s.lifecycleEventCount, LineCount(dir, "worker.jsonl"));
    EXPECT_EQ(s.stdoutChunkCount, LineCount(dir, "stdout.jsonl"));
    EXPECT_EQ(s.stderrChunkCount, LineCount(dir, "stderr.jsonl"));
    EXPECT_EQ(run.appended_seq(), last);
    EXPECT_EQ(run.durable_seq(), last);
    EXPECT_EQ(ReadDurableSeq(dir), last);
    EXPECT_TRUE(run.health().ok());
    total_lines += recs.size();
    for (const char* f : kChannelFiles) total_bytes += ReadFile(dir + "/" + f).value_or("").size();
  }
  EngineStats stats = engine->stats();
  EXPECT_EQ(stats.records, total_lines);
  EXPECT_EQ(stats.bytes, total_bytes);
  EXPECT_GT(stats.batches, 0u);
  if (GetParam() == Durability::none) {
    EXPECT_EQ(stats.fsyncs, 0u);
  } else {
    EXPECT_GT(stats.fsyncs, 0u);
  }
  EXPECT_EQ(stats.bytesInFlight, 0u);
  EXPECT_EQ(stats.failedStreams, 0u);
  EXPECT_EQ(stats.openRuns, 0u);
}

INSTANTIATE_TEST_SUITE_P(Durability, EngineOrderTest, ::testing::Values(Durability::none, Durability::batch),
                         DurabilityName);

// ================================================================ tickets

class EngineTicketTest : public ::testing::TestWithParam<Durability>, public EngineFixture {};

TEST_P(EngineTicketTest, WaitReturnsTheSeqTheRecordHasInTheFile) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "tickets", "r1");
  Producer p(*engine);
  std::vector<Ticket> tickets;
  for (int i = 0; i < 40; ++i) {
    auto t = i % 3 == 2 ? p.push_stderr(run, "line " + std::to_string(i) + "\n")
                        : p.push_stdout(run, "line " + std::to_string(i) + "\n");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    tickets.push_back(t.value());
  }
  const std::string dir = run_dir("tickets", "r1");
  for (int i = 0; i < 40; ++i) {
    auto seq = tickets[static_cast<std::size_t>(i)].wait();
    ASSERT_TRUE(seq.ok()) << seq.status().to_string();
    // One producer, one run, nothing else pushed: push order is seq order.
    EXPECT_EQ(seq.value(), static_cast<std::uint64_t>(i) + 1);
  }
  // Right after a wait, before close: the line is in the file, at that seq.
  auto t = p.push_stdout(run, "the one\n");
  ASSERT_TRUE(t.ok());
  auto seq = t->wait();
  ASSERT_TRUE(seq.ok()) << seq.status().to_string();
  EXPECT_EQ(seq.value(), 41u);
  EXPECT_GE(run.durable_seq(), seq.value());
  EXPECT_GE(ReadDurableSeq(dir).value_or(0), seq.value());
  bool found = false;
  for (const Record& rec : ParseFile(dir, "stdout.jsonl")) {
    if (rec.seq != seq.value()) continue;
    found = true;
    EXPECT_EQ(rec.text, "the one\n");
    EXPECT_TRUE(CheckLine(rec.line));
  }
  EXPECT_TRUE(found) << "seq " << seq.value() << " is not in stdout.jsonl after wait()";
  // ... and so is every record below it.
  std::vector<std::uint64_t> seqs = AllSeqs(dir);
  ASSERT_EQ(seqs.size(), 41u);
  for (std::size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  ASSERT_TRUE(run.close().ok());
}

TEST_P(EngineTicketTest, EventTicketReturnsItsSeq) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "tickets", "r2");
  Producer p(*engine);
  ASSERT_TRUE(p.push_stdout(run, "before\n").ok());
  auto t = p.push_event(run, {EventType::worker_started, LogLevel::info, "go", R"({"pid":7})"});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  auto seq = t->wait();
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(seq.value(), 2u);
  std::vector<Record> worker = ParseFile(run_dir("tickets", "r2"), "worker.jsonl");
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0].seq, 2u);
  EXPECT_EQ(worker[0].type, "worker_started");
  EXPECT_EQ(worker[0].message, "go");
  EXPECT_EQ(worker[0].data, R"({"pid":7})");
  ASSERT_TRUE(run.close().ok());
}

// A seq is remembered for the 4,096 most recent pushes of a producer; an
// older ticket still reports durability exactly (and seq 0).
TEST_P(EngineTicketTest, OldTicketStillReportsDurability) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "tickets", "old");
  Producer p(*engine);
  auto first = p.push_stdout(run, "first\n");
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(p.push_stdout(run, "more\n").ok());
  auto seq = first->wait();
  ASSERT_TRUE(seq.ok()) << seq.status().to_string();
  EXPECT_TRUE(seq.value() == 0 || seq.value() == 1) << seq.value();
  EXPECT_GE(run.durable_seq(), 1u);
  ASSERT_TRUE(run.close().ok());
}

// A Producer destroyed and another created: the new one may take over the
// old one's slot. The old tickets are still within the 4,096 most recent
// pushes of *their* producer, so they must still report their seq.
TEST_P(EngineTicketTest, TicketsOfAFinishedProducerKeepTheirSeqs) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "tickets", "reuse");
  std::vector<Ticket> first;
  {
    Producer a(*engine);
    for (int i = 0; i < 3000; ++i) {
      auto t = a.push_stdout(run, "a\n");
      ASSERT_TRUE(t.ok());
      first.push_back(t.value());
    }
  }
  {
    Producer b(*engine);
    for (int i = 0; i < 3000; ++i) ASSERT_TRUE(b.push_stdout(run, "b\n").ok());
  }
  ASSERT_TRUE(engine->flush().ok());
  int forgotten = 0;
  for (std::size_t i = 0; i < first.size(); ++i) {
    auto seq = first[i].wait();
    ASSERT_TRUE(seq.ok()) << seq.status().to_string();
    if (seq.value() != i + 1) ++forgotten;
  }
  EXPECT_EQ(forgotten, 0) << "of 3000 tickets of the first producer, " << forgotten
                          << " no longer report their seq after a second producer's 3000 pushes";
  ASSERT_TRUE(run.close().ok());
}

// Runs `f` on a thread of its own; if it has not returned after a minute it
// hangs: say what hangs and stop the process (the blocked thread cannot be
// cancelled, and ctest would only report a timeout).
template <class F>
void WithinAMinuteOrDie(const std::string& what, F f) {
  std::atomic<bool> done{false};
  std::thread worker([&] {
    f();
    done.store(true);
  });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (!done.load()) {
    std::fprintf(stderr, "FATAL: %s hangs\n", what.c_str());
    std::abort();
  }
  worker.join();
}

// Pushes racing a close: every push that returned a ticket is either on disk
// at the seq its wait() reports, or its wait() says closed; no wait() hangs.
// A push can pass its `closing` check and take its ticket only after close()
// read the ticket counter: that record is dropped and its wait() must say so
// (it once hung). The window is a few instructions wide, so the race is run
// many times, closing at a different moment in each round.
TEST_P(EngineTicketTest, PushesRacingCloseAreWrittenOrReportedClosed) {
  constexpr int kThreads = 4, kRounds = 40, kMaxPushes = 3000;  // under the 4,096 remembered seqs
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  for (int round = 0; round < kRounds; ++round) {
    const std::string run_id = "race" + std::to_string(round);
    runlog::Run run = OpenRun(*engine, "tickets", run_id);
    std::atomic<int> ready{0};
    std::atomic<int> pushed{0};
    std::vector<std::vector<std::pair<std::string, Ticket>>> accepted(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Producer p(*engine);  // all alive together: no slot changes hands
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        for (int i = 0; i < kMaxPushes; ++i) {
          std::string text = "t" + std::to_string(t) + " i" + std::to_string(i) + "\n";
          auto r = p.push_stdout(run, text);
          if (!r.ok()) {
            EXPECT_EQ(r.status().code(), Errc::closed) << r.status().to_string();
            break;
          }
          accepted[static_cast<std::size_t>(t)].push_back({text, r.value()});
          pushed.fetch_add(1);
        }
        while (ready.load() < 2 * kThreads) std::this_thread::yield();  // keep the Producer until all are done
      });
    }
    const int close_after = 1 + (round * 263) % 2000;
    while (pushed.load() < close_after) std::this_thread::yield();
    ASSERT_TRUE(run.close().ok());
    for (int t = 0; t < kThreads; ++t) ready.fetch_add(1);
    for (auto& th : threads) th.join();
    WithinAMinuteOrDie(run_id + ": Run::flush() after the close",
                       [&] { EXPECT_TRUE(run.flush().ok()) << "flush after a close that dropped tickets"; });

    const std::string dir = run_dir("tickets", run_id);
    std::uint64_t last = 0;
    ASSERT_TRUE(CheckRun(dir, &last));
    std::map<std::uint64_t, std::string> by_seq;
    for (const Record& rec : ParseFile(dir, "stdout.jsonl")) by_seq[rec.seq] = rec.text;
    std::vector<Ticket> tickets;
    std::vector<const std::string*> texts;
    for (auto& list : accepted) {
      for (auto& [text, ticket] : list) {
        tickets.push_back(ticket);
        texts.push_back(&text);
      }
    }
    std::vector<Result<std::uint64_t>> seqs;
    WithinAMinuteOrDie(run_id + ": Ticket::wait()", [&] {
      for (const Ticket& t : tickets) seqs.push_back(t.wait());
    });
    std::size_t written = 0;
    for (std::size_t i = 0; i < tickets.size(); ++i) {
      const std::string& text = *texts[i];
      if (seqs[i].ok()) {
        ++written;
        ASSERT_TRUE(by_seq.count(seqs[i].value())) << text << " acknowledged at seq " << seqs[i].value()
                                                   << ", not on disk";
        EXPECT_EQ(by_seq[seqs[i].value()], text);
      } else {
        EXPECT_EQ(seqs[i].status().code(), Errc::closed) << seqs[i].status().to_string();
      }
    }
    EXPECT_EQ(written, by_seq.size()) << run_id << ": records on disk that no acknowledged ticket accounts for";
    EXPECT_EQ(last, by_seq.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Durability, EngineTicketTest, ::testing::Values(Durability::none, Durability::batch),
                         DurabilityName);

// ============================================================ run state

class EngineStateTest : public EngineTestBase {};

TEST_F(EngineStateTest, WorkerStartedMakesStateRunning) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "r1");
  const std::string dir = run_dir("state", "r1");
  EXPECT_EQ(ReadState(dir).status, "prepared");
  Producer p(*engine);
  auto t = p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""});
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->wait().ok());
  EXPECT_EQ(run.state().status, RunStatus::running);
  EXPECT_TRUE(Eventually([&] { return ReadState(dir).status == "running"; }))
      << "state.json still says: " << ReadState(dir).json;
  ASSERT_TRUE(run.close().ok());
  StateFile st = ReadState(dir);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "running");
  EXPECT_EQ(st.lastEventSeq, 1u);
  EXPECT_FALSE(st.finishedAt.has_value());
}

TEST_F(EngineStateTest, WorkerExitedAndStepFailedMakeStateFailedWithExitCode) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "failed");
  Producer p(*engine);
  ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
  ASSERT_TRUE(p.push_stdout(run, "working\n").ok());
  ASSERT_TRUE(p.push_event(run, {EventType::worker_exited, LogLevel::warn, "exited", R"({"exitCode":3})"}).ok());
  ASSERT_TRUE(p.push_event(run, {EventType::step_failed, LogLevel::error, "failed", ""}).ok());
  ASSERT_TRUE(run.close().ok());

  const std::string dir = run_dir("state", "failed");
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, 4u);
  StateFile st = ReadState(dir);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "failed");
  EXPECT_EQ(st.exitCode, 3);
  ASSERT_TRUE(st.finishedAt.has_value());
  EXPECT_TRUE(IsIsoMillis(*st.finishedAt)) << *st.finishedAt;
  EXPECT_EQ(st.lastEventSeq, last);
  RunStateSnapshot mem = run.state();
  EXPECT_EQ(mem.status, RunStatus::failed);
  EXPECT_EQ(mem.exitCode, 3);
  EXPECT_EQ(mem.lastEventSeq, last);
}

TEST_F(EngineStateTest, StepBlockedMakesStateBlocked) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "blocked");
  Producer p(*engine);
  ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
  ASSERT_TRUE(p.push_event(run, {EventType::step_blocked, LogLevel::warn, "needs input", ""}).ok());
  ASSERT_TRUE(run.close().ok());
  StateFile st = ReadState(run_dir("state", "blocked"));
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "blocked");
  EXPECT_TRUE(st.finishedAt.has_value());
  EXPECT_EQ(st.lastEventSeq, 2u);
}

TEST_F(EngineStateTest, StepCompletedMakesStateCompleted) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "done");
  Producer p(*engine);
  ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
  ASSERT_TRUE(p.push_event(run, {EventType::worker_exited, LogLevel::info, "exited", R"({"exitCode":0})"}).ok());
  ASSERT_TRUE(p.push_event(run, {EventType::step_completed, LogLevel::info, "done", ""}).ok());
  ASSERT_TRUE(run.close().ok());
  StateFile st = ReadState(run_dir("state", "done"));
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "completed");
  EXPECT_EQ(st.exitCode, 0);
  EXPECT_EQ(st.lastEventSeq, 3u);
}

TEST_F(EngineStateTest, PatchStateSummaryIsInStateJsonWhenItReturns) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "patched");
  RunStatePatch patch;
  patch.summary = "built 3 targets, \"all\" green";
  ASSERT_TRUE(run.patch_state(patch).ok());
  StateFile st = ReadState(run_dir("state", "patched"));  // read before close
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.summary, "built 3 targets, \"all\" green");
  EXPECT_EQ(run.state().summary, "built 3 targets, \"all\" green");
  ASSERT_TRUE(run.close().ok());
  EXPECT_EQ(ReadState(run_dir("state", "patched")).summary, "built 3 targets, \"all\" green");
}

TEST_F(EngineStateTest, ReserveCheckpointMakesNumberedSlots) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "cp");
  const std::string dir = run_dir("state", "cp");
  auto first = run.reserve_checkpoint();
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first.value(), 1u);
  auto second = run.reserve_checkpoint();
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second.value(), 2u);

  EXPECT_EQ(ListDir(dir + "/checkpoints"), (std::vector<std::string>{"1", "2"}));
  EXPECT_FALSE(ListDir(dir + "/checkpoints/1").size());  // an empty folder, not a file
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/checkpoints/1"));
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/checkpoints/2"));
  EXPECT_EQ(ReadState(dir).checkpointSeq, 2u);  // durable when it returned
  EXPECT_EQ(run.state().checkpointSeq, 2u);

  std::vector<Record> worker = ParseFile(dir, "worker.jsonl");
  ASSERT_EQ(worker.size(), 2u);
  for (const Record& rec : worker) {
    EXPECT_EQ(rec.type, "checkpoint_slot_reserved");
    EXPECT_TRUE(CheckLine(rec.line));
  }
  EXPECT_EQ(worker[0].seq, 1u);
  EXPECT_EQ(worker[1].seq, 2u);
  ASSERT_TRUE(run.close().ok());
  StateFile st = ReadState(dir);
  EXPECT_EQ(st.checkpointSeq, 2u);
  EXPECT_EQ(st.lastEventSeq, 2u);
}

class EngineInvalidEventTest : public ::testing::TestWithParam<const char*>, public EngineFixture {};

TEST_P(EngineInvalidEventTest, IsRefusedAndNothingIsWritten) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "state", "bad-event");
  Producer p(*engine);
  auto t = p.push_event(run, {EventType::worker_started, LogLevel::info, "started", GetParam()});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Errc::invalid_argument) << t.status().to_string();
  ASSERT_TRUE(engine->flush().ok());
  EXPECT_EQ(run.appended_seq(), 0u);
  EXPECT_EQ(run.state().status, RunStatus::prepared);
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("state", "bad-event");
  EXPECT_TRUE(AllSeqs(dir).empty());
  EXPECT_EQ(ReadFile(dir + "/worker.jsonl"), "");
  EXPECT_EQ(ReadState(dir).status, "prepared");
  EXPECT_EQ(engine->stats().records, 0u);
}

INSTANTIATE_TEST_SUITE_P(Data, EngineInvalidEventTest,
                         ::testing::Values("[1,2]", "not json", "42", "\"a string\"", "{\"a\":1", "null"));

// ================================================================== close

class EngineCloseTest : public EngineTestBase {};

TEST_F(EngineCloseTest, CloseReturnsOnceEverythingIsDurable) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "close", "r1");
  Producer p(*engine);
  for (int i = 0; i < 300; ++i) {
    auto t = i % 50 == 0 ? p.push_event(run, {EventType::worker_execution_deferred, LogLevel::debug, "tick", ""})
                         : p.push_stdout(run, "line " + std::to_string(i) + "\n");
    ASSERT_TRUE(t.ok());
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("close", "r1");
  EXPECT_EQ(ReadDurableSeq(dir), 300u);
  StateFile st = ReadState(dir);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.lastEventSeq, 300u);
  EXPECT_EQ(run.durable_seq(), 300u);
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, 300u);
  EXPECT_FALSE(Exists(dir + "/state.json.tmp"));
}

TEST_F(EngineCloseTest, PushesAfterCloseAreClosedAndCloseTwiceIsOk) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "close", "r2");
  Producer p(*engine);
  ASSERT_TRUE(p.push_stdout(run, "one\n").ok());
  ASSERT_TRUE(run.close().ok());
  auto a = p.push_stdout(run, "two\n");
  auto b = p.push_stderr(run, "two\n");
  auto c = p.push_event(run, {EventType::worker_exited, LogLevel::info, "late", ""});
  ASSERT_FALSE(a.ok());
  ASSERT_FALSE(b.ok());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(a.status().code(), Errc::closed);
  EXPECT_EQ(b.status().code(), Errc::closed);
  EXPECT_EQ(c.status().code(), Errc::closed);
  EXPECT_TRUE(run.close().ok());
  EXPECT_TRUE(run.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("close", "r2"), &last));
  EXPECT_EQ(last, 1u);
}

TEST_F(EngineCloseTest, EngineDestructorMakesEverythingDurable) {
  {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "close", "r3");
    Producer p(*engine);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(p.push_stdout(run, "x\n").ok());
  }  // Producer, then Engine destroyed without close()
  const std::string dir = run_dir("close", "r3");
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, 100u);
  EXPECT_EQ(ReadDurableSeq(dir), 100u);
  EXPECT_EQ(ReadState(dir).lastEventSeq, 100u);
}

// ================================================================= reopen

class EngineReopenTest : public EngineTestBase {
 protected:
  // Pushes `n` records (stdout, stderr, events in turn) to task/run with a
  // fresh engine and closes it.
  void WriteRun(std::string_view run_id, int n) {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "reopen", run_id);
    Producer p(*engine);
    for (int i = 0; i < n; ++i) {
      Result<Ticket> t = Ticket();
      switch (i % 3) {
        case 0: t = p.push_stdout(run, "out " + std::to_string(i) + "\n"); break;
        case 1: t = p.push_stderr(run, "err " + std::to_string(i) + "\n"); break;
        default: t = p.push_event(run, {EventType::worker_execution_deferred, LogLevel::debug, "e", ""}); break;
      }
      ASSERT_TRUE(t.ok()) << t.status().to_string();
    }
    ASSERT_TRUE(run.close().ok());
  }
};

TEST_F(EngineReopenTest, NewEngineContinuesAtTheNextSeq) {
  WriteRun("r1", 30);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "reopen", "r1");
  ASSERT_TRUE(run);
  EXPECT_EQ(run.appended_seq(), 30u);
  EXPECT_EQ(run.durable_seq(), 30u);
  EXPECT_TRUE(run.repairs().empty());
  LocalRunLogSummary s = run.summary();
  EXPECT_EQ(s.totalEntries, 30u);
  EXPECT_EQ(s.stdoutChunkCount, 10u);
  EXPECT_EQ(s.stderrChunkCount, 10u);
  EXPECT_EQ(s.lifecycleEventCount, 10u);
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, run, "after reopen\n"), 31u);
  const std::string dir = run_dir("reopen", "r1");
  std::vector<Record> out = ParseFile(dir, "stdout.jsonl");
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().seq, 31u);
  EXPECT_EQ(out.back().text, "after reopen\n");
  ASSERT_TRUE(run.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, 31u);
}

TEST_F(EngineReopenTest, SameEngineReopensAClosedRun) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "reopen", "same");
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, run, "a\n"), 1u);
  ASSERT_TRUE(run.close().ok());
  runlog::Run again = OpenRun(*engine, "reopen", "same");
  ASSERT_TRUE(again);
  EXPECT_EQ(again.appended_seq(), 1u);
  EXPECT_EQ(PushStdoutAndWait(p, again, "b\n"), 2u);
  ASSERT_TRUE(again.close().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("reopen", "same"), &last));
  EXPECT_EQ(last, 2u);
}

TEST_F(EngineReopenTest, TornStdoutTailIsCutAndSeqsStayGapFree) {
  WriteRun("torn", 30);
  const std::string dir = run_dir("reopen", "torn");
  // Cut the last line of stdout.jsonl in half. Seqs after it (in the other
  // files) then lie past a hole, and recovery must cut them too.
  std::vector<Record> out = ParseFile(dir, "stdout.jsonl");
  ASSERT_FALSE(out.empty());
  const std::uint64_t torn_seq = out.back().seq;
  std::uint64_t size = 0;
  for (const Record& r : out) size += r.line.size();
  const std::uint64_t cut = size - out.back().line.size() / 2;
  ASSERT_EQ(::truncate((dir + "/stdout.jsonl").c_str(), static_cast<off_t>(cut)), 0);

  // The run was closed: durable.seq and state.json vouch for every seq, so the
  // damaged one is corruption (SPEC "Recovery"): refused, nothing changed.
  {
    const std::string before = ReadFile(dir + "/stdout.jsonl").value_or("");
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    auto refused = engine->open_run(Meta("reopen", "torn"));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Errc::corruption) << refused.status().to_string();
    EXPECT_EQ(ReadFile(dir + "/stdout.jsonl").value_or(""), before);
  }
  // A crash before the last batch's sync: only seqs below the torn one were
  // acknowledged. Then the torn tail, and what lies past the hole, are cut.
  {
    const std::string w = std::to_string(torn_seq - 1);
    ASSERT_TRUE(WriteFile(dir + "/durable.seq", std::string(20 - w.size(), '0') + w + "\n"));
    std::string state = ReadFile(dir + "/state.json").value_or("");
    const std::string key = "\"lastEventSeq\":";
    const std::size_t at = state.find(key);
    ASSERT_NE(at, std::string::npos);
    const std::size_t end = state.find_first_not_of("0123456789", at + key.size());
    state.replace(at + key.size(), end - at - key.size(), w);
    ASSERT_TRUE(WriteFile(dir + "/state.json", state));
  }

  {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "reopen", "torn");
    ASSERT_TRUE(run);
    EXPECT_FALSE(run.repairs().empty());
    EXPECT_EQ(run.appended_seq(), torn_seq - 1);
    Producer p(*engine);
    EXPECT_EQ(PushStdoutAndWait(p, run, "after repair\n"), torn_seq);
    ASSERT_TRUE(run.close().ok());
  }
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, torn_seq);
  EXPECT_EQ(ParseFile(dir, "stdout.jsonl").back().text, "after repair\n");
  EXPECT_EQ(ReadState(dir).lastEventSeq, torn_seq);

  // Recovery run twice = run once: a clean reopen repairs nothing.
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "reopen", "torn");
  EXPECT_TRUE(run.repairs().empty());
  EXPECT_EQ(run.appended_seq(), torn_seq);
}


TEST_F(EngineReopenTest, StateAndCheckpointNumberingSurviveReopen) {
  {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "reopen", "cp");
    Producer p(*engine);
    ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
    ASSERT_TRUE(run.reserve_checkpoint().ok());
    ASSERT_TRUE(run.reserve_checkpoint().ok());
    ASSERT_TRUE(run.close().ok());
  }
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "reopen", "cp");
  RunStateSnapshot st = run.state();
  EXPECT_EQ(st.status, RunStatus::running);
  EXPECT_EQ(st.checkpointSeq, 2u);
  EXPECT_EQ(st.lastEventSeq, 3u);
  auto third = run.reserve_checkpoint();
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  EXPECT_EQ(third.value(), 3u);
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("reopen", "cp");
  EXPECT_EQ(ListDir(dir + "/checkpoints"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(ReadState(dir).checkpointSeq, 3u);
  EXPECT_EQ(ReadState(dir).lastEventSeq, 4u);
}

// As after a crash between the log's sync and the state.json replace.
TEST_F(EngineReopenTest, StaleStateJsonAndDurableSeqAreBroughtUpToDate) {
  const std::string dir = run_dir("reopen", "stale");
  std::string prepared_state;
  {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "reopen", "stale");
    prepared_state = ReadFile(dir + "/state.json").value_or("");
    Producer p(*engine);
    ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
    ASSERT_TRUE(p.push_stdout(run, "out\n").ok());
    ASSERT_TRUE(p.push_event(run, {EventType::worker_exited, LogLevel::info, "exited", R"({"exitCode":7})"}).ok());
    ASSERT_TRUE(p.push_event(run, {EventType::step_failed, LogLevel::error, "failed", ""}).ok());
    ASSERT_TRUE(run.close().ok());
  }
  ASSERT_NE(prepared_state.find("\"prepared\""), std::string::npos) << prepared_state;
  ASSERT_TRUE(WriteFile(dir + "/state.json", prepared_state));
  ASSERT_TRUE(WriteFile(dir + "/durable.seq", "00000000000000000000\n"));

  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "reopen", "stale");
  EXPECT_EQ(run.appended_seq(), 4u);
  EXPECT_EQ(run.state().status, RunStatus::failed);
  EXPECT_EQ(run.state().exitCode, 7);
  StateFile st = ReadState(dir);
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "failed");
  EXPECT_EQ(st.exitCode, 7);
  EXPECT_EQ(st.lastEventSeq, 4u);
  EXPECT_EQ(ReadDurableSeq(dir), 4u);
}

TEST_F(EngineReopenTest, DamageFollowedByValidRecordsIsRefusedAndNothingRewritten) {
  WriteRun("corrupt", 30);
  const std::string dir = run_dir("reopen", "corrupt");
  std::string content = ReadFile(dir + "/stdout.jsonl").value_or("");
  ASSERT_GT(content.size(), 100u);
  const std::size_t at = content.find("out 3");  // inside the second line's text
  ASSERT_NE(at, std::string::npos);
  content[at] ^= 0x01;  // one flipped bit
  ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl", content));
  std::map<std::string, std::string> before;
  for (const std::string& f : ListDir(dir)) before[f] = ReadFile(dir + "/" + f).value_or("<dir>");

  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  auto r = engine->open_run(Meta("reopen", "corrupt"));
  ASSERT_FALSE(r.ok()) << "a bit flip in the middle of stdout.jsonl went unnoticed";
  EXPECT_EQ(r.status().code(), Errc::corruption) << r.status().to_string();
  EXPECT_NE(r.status().message().find("stdout.jsonl"), std::string::npos) << r.status().to_string();
  std::map<std::string, std::string> after;
  for (const std::string& f : ListDir(dir)) after[f] = ReadFile(dir + "/" + f).value_or("<dir>");
  EXPECT_EQ(before, after) << "a corrupt run was rewritten";
}

// ========================================================== open_run, misc

class EngineRunTest : public EngineTestBase {};

TEST_F(EngineRunTest, OpeningAnOpenRunReturnsTheSameRun) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run a = OpenRun(*engine, "same", "r1");
  runlog::Run b = OpenRun(*engine, "same", "r1");
  Producer p(*engine);
  EXPECT_EQ(PushStdoutAndWait(p, a, "via a\n"), 1u);
  EXPECT_EQ(PushStdoutAndWait(p, b, "via b\n"), 2u);
  EXPECT_EQ(a.appended_seq(), 2u);
  ASSERT_TRUE(b.close().ok());
  auto late = p.push_stdout(a, "closed through b\n");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Errc::closed);
}

TEST_F(EngineRunTest, ConcurrentOpensOfOneRunShareIt) {
  constexpr int kThreads = 8;
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> seqs(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = engine->open_run(Meta("shared", "r1"));
      if (!r.ok()) return;
      Producer p(*engine);
      auto ticket = p.push_stdout(r.value(), "thread " + std::to_string(t) + "\n");
      if (!ticket.ok()) return;
      auto seq = ticket->wait();
      if (seq.ok()) seqs[static_cast<std::size_t>(t)] = seq.value();
    });
  }
  for (auto& th : threads) th.join();
  std::sort(seqs.begin(), seqs.end());
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(seqs[static_cast<std::size_t>(t)], static_cast<std::uint64_t>(t) + 1);
  ASSERT_TRUE(engine->close_all().ok());
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(run_dir("shared", "r1"), &last));
  EXPECT_EQ(last, std::uint64_t{kThreads});
  EXPECT_EQ(ListDir(root()), std::vector<std::string>{"shared"});
  EXPECT_EQ(ListDir(root() + "/shared"), std::vector<std::string>{"r1"});
}

TEST_F(EngineRunTest, PushToARunOfAnotherEngineIsInvalid) {
  auto one = OpenEngine(MakeOptions());
  Options o = MakeOptions();
  o.runsRoot = tmp() + "/other-runs";
  auto two = OpenEngine(o);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  runlog::Run run = OpenRun(*one, "task", "r1");
  Producer p(*two);
  auto t = p.push_stdout(run, "wrong engine\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Errc::invalid_argument);
  ASSERT_TRUE(run.close().ok());
  EXPECT_TRUE(AllSeqs(run_dir("task", "r1")).empty());
}

TEST_F(EngineRunTest, CreatedAtIsThePushTimeGivenOrNow) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "time", "r1");
  Producer p(*engine);
  ASSERT_TRUE(p.push_stdout(run, "given\n", 1795258123394).ok());
  ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "given", ""}, 1000).ok());
  ASSERT_TRUE(p.push_stderr(run, "now\n").ok());
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("time", "r1");
  std::vector<Record> out = ParseFile(dir, "stdout.jsonl"), worker = ParseFile(dir, "worker.jsonl"),
                      err = ParseFile(dir, "stderr.jsonl");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(worker.size(), 1u);
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(out[0].createdAt, "2026-11-21T10:48:43.394Z");
  EXPECT_EQ(worker[0].createdAt, "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(worker[0].renderedLine, "[1970-01-01T00:00:01.000Z] info worker_started: given");
  const std::int64_t now_s = static_cast<std::int64_t>(std::time(nullptr));
  std::tm tm{};
  ASSERT_NE(strptime(err[0].createdAt.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr);
  EXPECT_LE(std::llabs(static_cast<long long>(timegm(&tm) - now_s)), 60) << err[0].createdAt;
}

TEST_F(EngineRunTest, EventMessageAndDataAreEscapedAndSanitized) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "event", "r1");
  Producer p(*engine);
  const std::string message = "say \"hi\"\n\tback\\slash \x01 caf\xC3\xA9 bad\xFF";
  auto t = p.push_event(run, {EventType::worker_started, LogLevel::warn, message,
                              "{ \"nested\" : { \"list\" : [1, 2.5, \"x\\u00e9\", null, true] }, \"s\": \"a\\nb\" }"});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("event", "r1");
  ASSERT_TRUE(CheckRun(dir));
  std::vector<Record> worker = ParseFile(dir, "worker.jsonl");
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0].message, WhatwgDecode(message));
  EXPECT_EQ(worker[0].level, "warn");
  EXPECT_EQ(worker[0].data, "{\"nested\":{\"list\":[1,2.5,\"x\xC3\xA9\",null,true]},\"s\":\"a\\nb\"}");
  EXPECT_NE(worker[0].line.find(R"("data":{"nested":{"list":[1,2.5,")"), std::string::npos) << "data not minified";
}

}  // namespace
}  // namespace runlog::testing
