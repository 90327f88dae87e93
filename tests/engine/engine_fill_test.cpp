// tests/engine/engine_fill_test.cpp — Producer::push_filled: bytes written by
// the caller straight into the engine's memory (a capture's pipe reads). What
// is filled is what the file holds, byte for byte and in order with ordinary
// pushes of the same producer, across the fill blocks and with characters
// split between fills; a fill that reads nothing pushes nothing and keeps no
// budget; a refused push never calls the fill.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/fault_fs.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

class EngineFillTest : public ::testing::TestWithParam<Durability>, public EngineFixture {
 protected:
  // A small budget that refuses (would_block) rather than waits: 64 KiB, and
  // records of at most 32 KiB.
  Options TightOptions() const {
    Options o = MakeOptions(GetParam());
    o.recordLimit = 32 * 1024;
    o.inFlightBudget = 64 * 1024;
    o.overBudget = OverBudget::would_block;
    return o;
  }
};

// The concatenated exact bytes of a channel's records, in seq order.
std::string ChannelBytes(const std::string& dir, const char* file) {
  std::string out;
  for (const Record& r : ParseFile(dir, file)) out += r.raw;
  return out;
}

TEST_P(EngineFillTest, WhatIsFilledIsWhatTheFileHoldsInOrderWithOtherPushes) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run a = OpenRun(*engine, "fill", "a");
  runlog::Run b = OpenRun(*engine, "fill", "b");
  Producer p(*engine);
  std::mt19937 rng(7);
  // Text with multi-byte characters and invalid bytes, cut anywhere.
  const std::string alphabet = "ab\n\"\\\t\x01 é€😀\xff\xc3";
  std::string want_a_out, want_a_err, want_b;
  std::uint64_t pushes = 0, largest = 0, rooms_over_64k = 0;
  for (int i = 0; i < 400; ++i) {
    const int what = static_cast<int>(rng() % 8);
    std::string text;
    const std::size_t len = what == 0 ? rng() % 300'000 : rng() % 9'000;
    while (text.size() < len) text += alphabet[rng() % alphabet.size()];
    text.resize(len);
    if (what == 7) {  // an ordinary push between fills, same producer and channel
      ASSERT_TRUE(p.push_stdout(a, text).ok());
      want_a_out += text;
      continue;
    }
    const runlog::Run& run = what == 6 ? b : a;
    const Channel ch = what == 5 ? Channel::stderr_ : Channel::stdout_;
    std::string_view left = text;
    while (!left.empty()) {  // as a reader of a pipe: as much as there is room for
      std::ptrdiff_t got = -2;
      auto t = p.push_filled(run, ch, std::size_t{1} << 20,
                             [&](char* buf, std::size_t room) -> std::ptrdiff_t {
                               if (room > 64 * 1024) ++rooms_over_64k;
                               const std::size_t k = std::min(room, left.size());
                               std::memcpy(buf, left.data(), k);
                               return static_cast<std::ptrdiff_t>(k);
                             },
                             &got);
      ASSERT_TRUE(t.ok()) << t.status().to_string();
      ASSERT_GT(got, 0);
      ASSERT_GT(t->seq(), 0u);
      largest = std::max<std::uint64_t>(largest, static_cast<std::uint64_t>(got));
      (&run == &b ? want_b : ch == Channel::stderr_ ? want_a_err : want_a_out) += left.substr(0, static_cast<std::size_t>(got));
      left.remove_prefix(static_cast<std::size_t>(got));
      ++pushes;
    }
  }
  ASSERT_TRUE(a.close().ok());
  ASSERT_TRUE(b.close().ok());
  EXPECT_GT(pushes, 300u);
  EXPECT_GT(largest, 128u * 1024) << "no fill was large";
  EXPECT_GT(rooms_over_64k, 10u);
  EXPECT_EQ(ChannelBytes(run_dir("fill", "a"), "stdout.jsonl"), want_a_out);
  EXPECT_EQ(ChannelBytes(run_dir("fill", "a"), "stderr.jsonl"), want_a_err);
  EXPECT_EQ(ChannelBytes(run_dir("fill", "b"), "stdout.jsonl"), want_b);
  for (const char* run : {"a", "b"}) {
    std::vector<std::uint64_t> seqs = AllSeqs(run_dir("fill", run));
    for (std::size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1) << run;
  }
}

TEST_P(EngineFillTest, AFillThatReadsNothingPushesNothingAndKeepsNoBudget) {
  auto engine = OpenEngine(TightOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "fill", "empty");
  Producer p(*engine);
  std::size_t calls = 0, widest = 0;
  for (int i = 0; i < 1000; ++i) {  // 1000 x 32 KiB admitted: each must be given back
    std::ptrdiff_t got = 1;
    auto t = p.push_filled(run, Channel::stdout_, std::size_t{1} << 20,
                           [&](char*, std::size_t room) -> std::ptrdiff_t {
                             ++calls;
                             widest = std::max(widest, room);
                             return i % 2 == 0 ? 0 : -1;
                           },
                           &got);
    ASSERT_TRUE(t.ok()) << i << ": " << t.status().to_string();
    EXPECT_EQ(got, i % 2 == 0 ? 0 : -1);
    EXPECT_EQ(t->seq(), 0u);
  }
  EXPECT_EQ(calls, 1000u);
  EXPECT_EQ(widest, 32u * 1024) << "the room is bounded by the record limit";
  EXPECT_EQ(PushStdoutAndWait(p, run, "after\n"), 1u);
  ASSERT_TRUE(run.close().ok());
  std::vector<Record> lines = ParseFile(run_dir("fill", "empty"), "stdout.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].raw, "after\n");
}

// Under would_block, a budget that cannot take a full room gives the room it
// can take (the rest stays in the caller's pipe), and refuses only when it
// takes nothing: then the fill is not called and one refusal is counted.
TEST_P(EngineFillTest, UnderWouldBlockANearlyFullBudgetGivesASmallerRoom) {
  auto fs = std::make_shared<FaultFs>();
  Options o = TightOptions();
  o.fs = fs;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "fill", "tight");
  Producer p(*engine);
  fs->SlowWrites("/tight/stdout.jsonl", 1000ms, 1);
  ASSERT_TRUE(p.push_stdout(run, std::string(40 * 1024, 'a')).ok());  // held in flight by the slow write
  std::vector<std::size_t> rooms;
  auto fill_with = [&](std::size_t k) {
    std::ptrdiff_t got = 0;
    auto t = p.push_filled(run, Channel::stdout_, 32 * 1024,
                           [&](char* buf, std::size_t room) -> std::ptrdiff_t {
                             rooms.push_back(room);
                             const std::size_t n = std::min(k, room);
                             std::memset(buf, 'b', n);
                             return static_cast<std::ptrdiff_t>(n);
                           },
                           &got);
    return t.ok() ? Status::OK() : t.status();
  };
  EXPECT_TRUE(fill_with(100).ok());           // 24 KiB free: room 24 KiB, 100 bytes kept
  EXPECT_TRUE(fill_with(SIZE_MAX).ok());      // the rest of the budget, filled
  Status full = fill_with(1);                 // nothing left: refused, fill not called
  EXPECT_EQ(full.code(), Errc::would_block) << full.to_string();
  EXPECT_EQ(fs->slow_writes_done(), 0) << "the budget was not held: the test proves nothing";
  EXPECT_EQ(rooms, (std::vector<std::size_t>{24 * 1024, 24 * 1024 - 100}));
  EXPECT_EQ(engine->stats().wouldBlockPushes, 1u);
  ASSERT_TRUE(run.close().ok());
  EXPECT_EQ(ChannelBytes(run_dir("fill", "tight"), "stdout.jsonl"), std::string(40 * 1024, 'a') + std::string(24 * 1024, 'b'));
}

TEST_P(EngineFillTest, APushToAClosedRunNeverCallsTheFill) {
  auto engine = OpenEngine(MakeOptions(GetParam()));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "fill", "closed");
  ASSERT_TRUE(run.close().ok());
  Producer p(*engine);
  bool called = false;
  std::ptrdiff_t got = 5;
  auto t = p.push_filled(run, Channel::stdout_, 4096, [&](char*, std::size_t) -> std::ptrdiff_t {
    called = true;
    return 1;
  }, &got);
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Errc::closed);
  EXPECT_FALSE(called);
  EXPECT_EQ(got, 0);
  auto bad = p.push_filled(run, Channel::worker, 4096, [&](char*, std::size_t) -> std::ptrdiff_t { return 1; }, &got);
  EXPECT_EQ(bad.status().code(), Errc::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Durability, EngineFillTest, ::testing::Values(Durability::none, Durability::batch),
                         [](const ::testing::TestParamInfo<Durability>& p) {
                           return std::string(p.param == Durability::batch ? "batch" : "none");
                         });

}  // namespace
}  // namespace runlog::testing
