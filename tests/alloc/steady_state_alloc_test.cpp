// tests/alloc/steady_state_alloc_test.cpp — the write path allocates nothing
// per record once warm. Its own binary: it replaces the global operator new to
// count allocations (not built under the sanitizers, which replace it too).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/engine_internal.h"
#include "support/engine_fixture.h"

namespace {
std::atomic<long> g_allocations{0};  // everything but the pools' own growth
std::atomic<long> g_pool_growth{0};  // an arena block or an output page: a pool reaching a new high-water mark
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_sizes[64];  // the first sizes seen, for the failure message

void count(std::size_t n) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (n == sizeof(runlog::detail::Block) + runlog::detail::kBlockSize || n == sizeof(runlog::detail::Page)) {
    g_pool_growth.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  long i = g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (i < 64) g_sizes[i].store(n, std::memory_order_relaxed);
}
}  // namespace

void* operator new(std::size_t n) {
  count(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  count(n);
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

class SteadyStateAlloc : public EngineTestBase, public ::testing::WithParamInterface<Durability> {
 protected:
  // Pushes 100-byte chunks (and an é split across two pushes now and then) to
  // 8 runs from `producers` threads; warms up, then counts the allocations of
  // 100,000 more records. Returns them, and describes their sizes in *sizes.
  long CountSteadyState(int producers, std::string* sizes) {
    Options o = MakeOptions(GetParam());
    o.inFlightBudget = 4u << 20;  // bounds the queue backlog, so warm-up reaches it
    o.maxBatchBytes = 64u << 10;  // hundreds of batches: one allocation per batch would show
    auto engine = OpenEngine(o);
    if (engine == nullptr) return -1;
    std::vector<runlog::Run> runs;
    for (int i = 0; i < 8; ++i) runs.push_back(OpenRun(*engine, "alloc", "run-" + std::to_string(i)));
    const std::string text = std::string(96, 'x') + "\"\\\t\n";
    const std::string split_a = std::string(50, 'y') + "\xC3";
    const std::string split_b = "\xA9" + std::string(49, 'z');
    auto pump = [&](int records) {
      std::vector<std::thread> threads;
      for (int t = 0; t < producers; ++t) {
        threads.emplace_back([&, t] {
          Producer p(*engine);
          for (int i = 0; i < records / producers; ++i) {
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
    g_pool_growth.store(0);
    g_counting.store(true);
    pump(100'000);
    g_counting.store(false);
    for (long i = 0; i < std::min(g_allocations.load(), 64L); ++i) *sizes += std::to_string(g_sizes[i].load()) + " ";
    for (auto& r : runs) EXPECT_TRUE(r.close().ok());
    // The pools may reach a new high-water mark when the producer runs further
    // ahead than in any warm-up round, but never beyond what the budget and a
    // batch can hold: growth per record or per batch would break this bound.
    const long pool_bound = static_cast<long>(o.inFlightBudget / runlog::detail::kBlockSize +
                                              o.maxBatchBytes / runlog::detail::kPageSize + 16);
    EXPECT_LE(g_pool_growth.load(), pool_bound) << "arena blocks and output pages allocated";
    return g_allocations.load();
  }
};

// One producer: records reach the sequencer in ticket order, so no reorder
// ring grows. Allowed besides pool growth (bounded above): the producer's
// thread and the flush. One allocation per batch (~265 batches of 64 KiB) or
// per wave would be hundreds, one per record 100,000.
TEST_P(SteadyStateAlloc, OneProducerAllocatesNothingOnceWarm) {
  std::string sizes;
  long n = CountSteadyState(1, &sizes);
  EXPECT_LE(n, 8) << "allocations while pushing 100,000 records; sizes: " << sizes;
}

// Two producers: a thread descheduled between taking its ticket and enqueueing
// makes the other's records wait in the run's reorder ring, and a ring or the
// arena may grow to a new high-water mark (bounded by the budget). Still far
// from one allocation per record.
TEST_P(SteadyStateAlloc, TwoProducersAllocateFarLessThanOncePerRecord) {
  std::string sizes;
  long n = CountSteadyState(2, &sizes);
  EXPECT_LE(n, 200) << "allocations while pushing 100,000 records; sizes: " << sizes;
}

// Conversations take the same path: the chunk is checked and re-encoded on
// the producer's thread (one parser and buffers per thread), numbered and
// crc'd by the sequencer. Text chunks (the streaming case) allocate nothing
// per chunk once warm.
TEST_P(SteadyStateAlloc, ConversationChunksAllocateNothingOnceWarm) {
  Options o = MakeOptions(GetParam());
  o.conversationsRoot = tmp() + "/conversations";
  o.inFlightBudget = 4u << 20;
  o.maxBatchBytes = 64u << 10;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  std::vector<runlog::Conversation> convs;
  for (int i = 0; i < 8; ++i) convs.push_back(engine->open_conversation("conv-" + std::to_string(i)).value());
  const std::string chunk = R"({"type":"text","text":")" + std::string(80, 'x') + R"( \"q\" \u00e9\n"})";
  auto pump = [&](int records) {
    std::thread th([&] {
      Producer p(*engine);
      for (int i = 0; i < records; ++i)
        ASSERT_TRUE(p.push_chunk(convs[static_cast<std::size_t>(i) % convs.size()], runlog::Role::assistant, chunk).ok());
    });
    th.join();
    ASSERT_TRUE(engine->flush().ok());
  };
  pump(200'000);
  pump(200'000);
  g_allocations.store(0);
  g_pool_growth.store(0);
  g_counting.store(true);
  pump(100'000);
  g_counting.store(false);
  std::string sizes;
  for (long i = 0; i < std::min(g_allocations.load(), 64L); ++i) sizes += std::to_string(g_sizes[i].load()) + " ";
  for (auto& c : convs) EXPECT_TRUE(c.close().ok());
  const long pool_bound = static_cast<long>(o.inFlightBudget / runlog::detail::kBlockSize +
                                            o.maxBatchBytes / runlog::detail::kPageSize + 16);
  EXPECT_LE(g_pool_growth.load(), pool_bound) << "arena blocks and output pages allocated";
  // The producer's thread (its thread-locals: parser, buffers) and the flush.
  EXPECT_LE(g_allocations.load(), 40) << "allocations while pushing 100,000 chunks; sizes: " << sizes;
}

INSTANTIATE_TEST_SUITE_P(Durability, SteadyStateAlloc, ::testing::Values(Durability::none, Durability::batch),
                         [](const auto& p) { return p.param == Durability::none ? "none" : "batch"; });

}  // namespace
}  // namespace runlog::testing
