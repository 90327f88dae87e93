// tests/engine/engine_order_test.cpp — order across producers, and one writer
// per run.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "support/engine_fixture.h"

namespace runlog::testing {
namespace {

class EngineCausalOrderTest : public EngineTestBase, public ::testing::WithParamInterface<Durability> {};

// Regression: a runner joins its pipe-reader threads, then logs worker_exited
// from another thread. The exit must come after every chunk the readers
// pushed, though the queue is free to hand them over in any order.
TEST_P(EngineCausalOrderTest, PushThatReturnedFirstGetsTheLowerSeqAcrossProducers) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "order", "causal");
  Producer lifecycle(*engine);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::uint64_t> reader_seqs;
    std::thread reader([&] {
      Producer p(*engine);
      for (int i = 0; i < 200; ++i) {
        auto t = p.push_stdout(run, "out\n");
        ASSERT_TRUE(t.ok());
        reader_seqs.push_back(t->seq());
      }
    });
    reader.join();
    auto exited = lifecycle.push_event(run, {EventType::worker_exited, LogLevel::info, "exited", R"({"exitCode":0})"});
    ASSERT_TRUE(exited.ok());
    for (std::uint64_t s : reader_seqs) ASSERT_LT(s, exited->seq()) << "round " << round;
    auto acked = exited->wait();
    ASSERT_TRUE(acked.ok());
    EXPECT_EQ(acked.value(), exited->seq());
  }
  ASSERT_TRUE(run.close().ok());
  // The file agrees: every worker line's seq is above every stdout line pushed before it.
  std::vector<Record> recs = ParseRun(run_dir("order", "causal"));
  std::uint64_t last_stdout = 0;
  int events = 0;
  for (const Record& r : recs) {
    if (r.channel == "stdout") last_stdout = std::max(last_stdout, r.seq);
    if (r.channel == "worker") {
      ++events;
      EXPECT_GT(r.seq, last_stdout);
    }
  }
  EXPECT_EQ(events, 20);
}

// The ticket's seq is known at push and is the seq the line has in the file.
TEST_P(EngineCausalOrderTest, TicketSeqIsKnownAtPushAndMatchesTheFile) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "order", "tickets");
  std::vector<std::pair<std::uint64_t, std::string>> pushed;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      Producer p(*engine);
      for (int i = 0; i < 500; ++i) {
        std::string text = "t" + std::to_string(t) + "-" + std::to_string(i) + "\n";
        auto ticket = p.push_stdout(run, text);
        ASSERT_TRUE(ticket.ok());
        std::lock_guard<std::mutex> lock(mu);
        pushed.push_back({ticket->seq(), text});
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(run.flush().ok());
  EXPECT_EQ(run.durable_seq(), 1500u);
  ASSERT_TRUE(run.close().ok());
  std::map<std::uint64_t, std::string> by_seq;
  for (const Record& r : ParseRun(run_dir("order", "tickets"))) by_seq[r.seq] = r.text;
  ASSERT_EQ(by_seq.size(), 1500u);
  for (auto& [seq, text] : pushed) EXPECT_EQ(by_seq[seq], text) << "seq " << seq;
}

INSTANTIATE_TEST_SUITE_P(Durability, EngineCausalOrderTest, ::testing::Values(Durability::none, Durability::batch),
                         [](const auto& p) { return p.param == Durability::none ? "none" : "batch"; });

// A run open in one engine is refused to another (in this process or any
// other), before recovery could cut anything under the live writer.
class EngineLockTest : public EngineTestBase {};

TEST_F(EngineLockTest, RunOpenInAnotherEngineIsRefused) {
  auto first = OpenEngine(MakeOptions());
  auto second = OpenEngine(MakeOptions());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  runlog::Run run = OpenRun(*first, "lock", "r1");
  Producer p(*first);
  ASSERT_NE(PushStdoutAndWait(p, run, "live\n"), 0u);
  auto again = second->open_run(Meta("lock", "r1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Errc::refused) << again.status().to_string();
  ASSERT_TRUE(run.close().ok());
  auto after = second->open_run(Meta("lock", "r1"));
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(after->appended_seq(), 1u);
  ASSERT_TRUE(after->close().ok());
}

}  // namespace
}  // namespace runlog::testing
