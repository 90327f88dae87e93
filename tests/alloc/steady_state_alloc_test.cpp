// tests/alloc/steady_state_alloc_test.cpp — the write path allocates nothing
// per record once warm. Its own binary: it replaces the global operator new to
// count allocations (not built under the sanitizers, which replace it too).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/engine_fixture.h"

namespace {
std::atomic<long> g_allocations{0};
std::atomic<bool> g_counting{false};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  std::size_t align = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace runlog::testing {
namespace {

class SteadyStateAlloc : public EngineTestBase, public ::testing::WithParamInterface<Durability> {};

// Two producers push 100-byte chunks (and a split character now and then) to
// 8 runs; after a warm-up, 100,000 more records cost no allocation at all —
// not in the producers, the queue, the sequencer, nor the sync pool.
TEST_P(SteadyStateAlloc, HundredThousandRecordsAllocateNothingOnceWarm) {
  Options o = MakeOptions(GetParam());
  o.inFlightBudget = 4u << 20;  // bounds the queue backlog, so warm-up reaches it
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  std::vector<runlog::Run> runs;
  for (int i = 0; i < 8; ++i) runs.push_back(OpenRun(*engine, "alloc", "run-" + std::to_string(i)));
  const std::string text = std::string(96, 'x') + "\"\\\t\n";
  const std::string split_a = std::string(50, 'y') + "\xC3";  // é split across two pushes
  const std::string split_b = "\xA9" + std::string(49, 'z');
  auto pump = [&](int records) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        Producer p(*engine);
        for (int i = 0; i < records / 2; ++i) {
          const runlog::Run& run = runs[static_cast<std::size_t>(i + t) % runs.size()];
          bool ok = (i % 50 == 7) ? p.push_stdout(run, split_a).ok() && p.push_stdout(run, split_b).ok()
                                  : p.push_stdout(run, text).ok();
          ASSERT_TRUE(ok);
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(engine->flush().ok());
  };
  pump(200'000);  // warm: pools, pages, queue blocks, rings, wave vectors
  pump(200'000);
  g_allocations.store(0);
  g_counting.store(true);
  pump(100'000);
  g_counting.store(false);
  // Producer objects (2 per pump) and their threads are the only allocations
  // allowed: a handful, not one per record.
  EXPECT_LE(g_allocations.load(), 16) << "allocations while pushing 100,000 records";
  for (auto& r : runs) ASSERT_TRUE(r.close().ok());
}

INSTANTIATE_TEST_SUITE_P(Durability, SteadyStateAlloc, ::testing::Values(Durability::none, Durability::batch),
                         [](const auto& p) { return p.param == Durability::none ? "none" : "batch"; });

}  // namespace
}  // namespace runlog::testing
