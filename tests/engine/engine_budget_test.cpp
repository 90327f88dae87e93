// tests/engine/engine_budget_test.cpp — SPEC invariant 7 (bounded): bytes in
// flight never exceed the budget; over budget a producer gets would_block (and
// nothing of that push is accepted) or waits; nothing accepted is dropped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kLimit = 1024;
constexpr std::size_t kBudget = 2 * kLimit;

// Samples EngineStats::bytesInFlight from its own thread until stopped. The
// constructor returns once the first sample is taken, so that on a loaded
// machine the sampler is already running when the pushes start.
class InFlightSampler {
 public:
  explicit InFlightSampler(const Engine& engine)
      : thread_([this, &engine] {
          while (!stop_.load(std::memory_order_relaxed)) {
            std::uint64_t v = engine.stats().bytesInFlight;
            if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
            samples_.fetch_add(1, std::memory_order_relaxed);
          }
        }) {
    while (samples_.load() == 0) std::this_thread::yield();
  }
  ~InFlightSampler() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t max() const { return max_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> max_{0}, samples_{0};
  std::thread thread_;
};

class EngineBudgetTest : public EngineTestBase {
 protected:
  Options BudgetOptions(OverBudget policy, Durability durability = Durability::batch) const {
    Options o = MakeOptions(durability);
    o.recordLimit = kLimit;
    o.inFlightBudget = kBudget;
    o.overBudget = policy;
    return o;
  }
};

TEST_F(EngineBudgetTest, WouldBlockWhenFullAndPushesSucceedAgainAfterFlush) {
  auto engine = OpenEngine(BudgetOptions(OverBudget::would_block));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "budget", "wb");
  const std::string chunk(kLimit, 'x');
  std::uint64_t accepted = 0;
  Status refused;
  {
    InFlightSampler sampler(*engine);
    Producer p(*engine);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto t = p.push_stdout(run, chunk);
      if (!t.ok()) {
        refused = t.status();
        break;
      }
      ++accepted;
    }
    ASSERT_FALSE(refused.ok()) << "no would_block within 10 s";
    EXPECT_EQ(refused.code(), Errc::would_block) << refused.to_string();
    EXPECT_LE(engine->stats().bytesInFlight, kBudget) << "at the refusal";
    EXPECT_GT(engine->stats().wouldBlockPushes, 0u);

    ASSERT_TRUE(run.flush().ok());
    EXPECT_EQ(engine->stats().bytesInFlight, 0u);
    auto again = p.push_stdout(run, chunk);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    ++accepted;
    ASSERT_TRUE(again->wait().ok());
    sampler.stop();
    EXPECT_LE(sampler.max(), kBudget);
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("budget", "wb");
  std::uint64_t last = 0;
  ASSERT_TRUE(CheckRun(dir, &last));
  EXPECT_EQ(last, accepted) << "every accepted push is one record, and only those";
}

// A push over the record limit becomes several records; when the budget
// refuses one of them, the push is refused as a whole: "nothing accepted".
TEST_F(EngineBudgetTest, WouldBlockAcceptsNothingOfAMultiRecordPush) {
  auto engine = OpenEngine(BudgetOptions(OverBudget::would_block));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "budget", "partial");
  Producer p(*engine);
  // Fill half the budget, then push 2 records' worth: the second cannot fit
  // until the first push is acknowledged (an fdatasync away).
  ASSERT_TRUE(p.push_stdout(run, std::string(kLimit, 'a')).ok());
  auto big = p.push_stdout(run, std::string(kLimit + 500, 'b'));
  ASSERT_TRUE(run.flush().ok());
  ASSERT_TRUE(run.close().ok());
  std::vector<Record> recs = ParseFile(run_dir("budget", "partial"), "stdout.jsonl");
  std::string b_bytes;
  for (const Record& r : recs) {
    for (char c : r.text)
      if (c == 'b') b_bytes += c;
  }
  if (big.ok()) {
    EXPECT_EQ(b_bytes.size(), kLimit + 500u) << "accepted push not all written";
  } else {
    EXPECT_EQ(big.status().code(), Errc::would_block) << big.status().to_string();
    EXPECT_EQ(b_bytes.size(), 0u) << "push returned would_block, yet " << b_bytes.size()
                                  << " of its bytes were accepted and written";
  }
}

class EngineBlockTest : public EngineBudgetTest, public ::testing::WithParamInterface<Durability> {};

TEST_P(EngineBlockTest, ManyThreadsOverATinyBudgetAllFinishAndLoseNothing) {
  constexpr int kThreads = 8, kRuns = 4, kPushes = 60;
  auto engine = OpenEngine(BudgetOptions(OverBudget::block, GetParam()));
  ASSERT_NE(engine, nullptr);
  std::vector<runlog::Run> runs;
  for (int r = 0; r < kRuns; ++r) runs.push_back(OpenRun(*engine, "budget", "block-" + std::to_string(r)));
  std::atomic<int> failures{0};
  InFlightSampler sampler(*engine);
  FinishesWithin(60s, "8 producers over a 2 KiB budget", [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Producer p(*engine);
        for (int i = 0; i < kPushes; ++i) {
          std::string text = "t" + std::to_string(t) + " i" + std::to_string(i) + " ";
          text.resize(1000, '.');
          text.back() = '\n';
          const runlog::Run& run = runs[static_cast<std::size_t>((t + i) % kRuns)];
          if (!p.push_stdout(run, text).ok()) failures.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (const runlog::Run& run : runs) EXPECT_TRUE(run.close().ok());
  });
  sampler.stop();
  EXPECT_EQ(failures.load(), 0);
  EngineStats s = engine->stats();
  EXPECT_GT(s.blockedPushes, 0u);
  EXPECT_EQ(s.wouldBlockPushes, 0u);
  EXPECT_LE(sampler.max(), kBudget);
  EXPECT_EQ(s.records, std::uint64_t{kThreads} * kPushes);
  std::uint64_t total = 0;
  for (int r = 0; r < kRuns; ++r) {
    std::uint64_t last = 0;
    ASSERT_TRUE(CheckRun(run_dir("budget", "block-" + std::to_string(r)), &last));
    total += last;
  }
  EXPECT_EQ(total, std::uint64_t{kThreads} * kPushes) << "records lost";
}

INSTANTIATE_TEST_SUITE_P(Durability, EngineBlockTest, ::testing::Values(Durability::none, Durability::batch),
                         [](const ::testing::TestParamInfo<Durability>& p) {
                           return std::string(p.param == Durability::batch ? "batch" : "none");
                         });

}  // namespace
}  // namespace runlog::testing
