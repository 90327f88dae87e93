// tests/reliability/crash_test.cpp — SPEC invariants 1 and 2 under simulated
// power loss (support/crash_fs.h): after every crash, recovery runs and
// nothing acknowledged is lost, seqs are 1..N once each, every line is valid,
// no record carries another's content, the next append gets N+1, and
// recovering twice is recovering once. Crashes strike the engine's writes,
// syncs, creations and renames at random points of random multi-run,
// multi-producer workloads; at every point of a scripted one; and inside
// recovery itself.
//
// Sizes (docs/reliability.md): RUNLOG_CRASH_CASES (default 10,000; 1,000,000
// with RUNLOG_LONG=1; a tenth under the sanitizers, said in the output).
// A failing case prints its seed and the command that replays it
// (RUNLOG_CRASH_SEED=<seed> runs that case alone).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "reliability/crash_harness.h"
#include "support/crash_fs.h"
#include "support/process.h"

namespace runlog::testing {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// The counted operations a workload makes when nothing fails.
std::uint64_t OpsOf(const WorkloadShape& shape, std::uint64_t seed) {
  auto fs = std::make_shared<CrashFs>();
  RandomWorkload(fs, shape, seed);
  return fs->ops();
}
std::uint64_t ScriptedOps(bool journal) {
  auto fs = std::make_shared<CrashFs>();
  ScriptedWorkload(fs, journal);
  return fs->ops();
}

// Opens the engine and every run of `h` on fs, then closes: recovery alone.
void RecoverOnly(const std::shared_ptr<CrashFs>& fs, const History& h) {
  auto e = Engine::open(CrashOptions(fs));
  if (!e.ok()) return;
  for (const RunHistory& r : h) {
    if (!r.opened) continue;
    if (!e.value()->open_run(CrashMeta(r.task, r.run)).ok()) break;
  }
}

const WorkloadShape kShapes[] = {
    {4, 2, 40, 4, Durability::batch},    // a few runs, two producers
    {16, 3, 30, 8, Durability::batch},   // many runs
    {1, 4, 30, 2, Durability::batch},    // one run, producers racing on it
};

// How waves are made durable: one syncfs, one fdatasync per file, either by
// the number of files, or one fdatasync of the journal (Options::journal).
struct SyncMode {
  std::size_t syncfs_files;
  bool journal;
};
constexpr SyncMode kSyncModes[] = {{1, false}, {0, false}, {4, false}, {0, true}};

TEST(CrashTest, RandomPowerLossAcrossManyRunsAndProducers) {
  const bool replay = std::getenv("RUNLOG_CRASH_SEED") != nullptr;
  const std::uint64_t base = SeedFromEnv(20261204);
  std::uint64_t cases = SizeFromEnv("RUNLOG_CRASH_CASES", UnderSanitizer() ? 500 : 10000, 1000000);
  if (replay) cases = 1;
  std::uint64_t ops[std::size(kShapes)][std::size(kSyncModes)];
  for (std::size_t s = 0; s < std::size(kShapes); ++s)
    for (std::size_t k = 0; k < std::size(kSyncModes); ++k) {
      WorkloadShape sh = kShapes[s];
      sh.syncfs_files = kSyncModes[k].syncfs_files;
      sh.journal = kSyncModes[k].journal;
      ops[s][k] = OpsOf(sh, 1);
    }
  const auto start = Clock::now();
  std::uint64_t acked = 0, lost_power = 0, failures = 0;
  for (std::uint64_t i = 0; i < cases && failures < 5; ++i) {
    const std::uint64_t seed = base + i;
    const std::size_t shape = seed % std::size(kShapes);
    std::mt19937_64 rng(seed);
    const std::size_t mode = (seed / std::size(kShapes)) % std::size(kSyncModes);
    WorkloadShape sh = kShapes[shape];
    sh.syncfs_files = kSyncModes[mode].syncfs_files;
    sh.journal = kSyncModes[mode].journal;
    auto fs = std::make_shared<CrashFs>();
    // Some crash points lie past the end: a crash after a clean close.
    const std::uint64_t n = ops[shape][mode];
    fs->PowerOffAt(1 + rng() % (n + n / 10 + 1));
    History h = RandomWorkload(fs, sh, seed);
    lost_power += fs->powered_off() ? 1 : 0;
    for (const RunHistory& r : h) acked += r.acked.size();
    const std::string err = RecoverAndCheck(fs->Crash(seed), h, seed % 8 == 0);
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << ": " << err << "\n  replay: " << ReplayCommand(seed);
    }
  }
  std::printf("[ crash ] %llu simulated power losses (%llu mid-workload), %llu acknowledged records checked, "
              "%.1f s%s\n",
              static_cast<unsigned long long>(cases), static_cast<unsigned long long>(lost_power),
              static_cast<unsigned long long>(acked), Seconds(start),
              UnderSanitizer() ? " (reduced size: sanitizer build)" : "");
}

// Every crash point, with waves synced file by file and through the journal
// (its 4 KiB files rotate and checkpoint within the script).
class CrashPointTest : public ::testing::TestWithParam<bool> {};

TEST_P(CrashPointTest, EveryCrashPointOfAScriptedWorkloadTimesFiveDamageSeeds) {
  const bool journal = GetParam();
  const std::uint64_t k = ScriptedOps(journal);
  ASSERT_GT(k, 20u) << "the scripted workload made too few file-system calls to be worth crashing";
  const auto start = Clock::now();
  int failures = 0;
  for (std::uint64_t point = 1; point <= k + 1 && failures < 5; ++point) {
    for (std::uint64_t d = 0; d < 5; ++d) {
      const std::uint64_t seed = point * 5 + d;
      if (const char* s = std::getenv("RUNLOG_CRASH_SEED"); s != nullptr && std::strtoull(s, nullptr, 0) != seed)
        continue;
      auto fs = std::make_shared<CrashFs>();
      fs->PowerOffAt(point);
      History h = ScriptedWorkload(fs, journal);
      const std::string err = RecoverAndCheck(fs->Crash(seed), h, d == 0);
      if (!err.empty()) {
        ++failures;
        ADD_FAILURE() << "crash at call " << point << ", damage seed " << seed << ": " << err
                      << "\n  replay: " << ReplayCommand(seed);
      }
    }
  }
  std::printf("[ crash ] every crash point of the scripted workload%s: %llu calls x 5 damage seeds, %.1f s\n",
              journal ? " (journal)" : "", static_cast<unsigned long long>(k + 1), Seconds(start));
}

INSTANTIATE_TEST_SUITE_P(Sync, CrashPointTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "journal" : "files"; });

TEST(CrashTest, CrashesInsideRecoveryConverge) {
  const std::uint64_t k = ScriptedOps(false);
  const auto start = Clock::now();
  std::uint64_t cases = 0;
  int failures = 0;
  // Every third crash point of the scripted workload leaves an image; recovery
  // of it is crashed at each of its own calls; the image of that is recovered.
  for (std::uint64_t point = 2; point <= k && failures < 5; point += 3) {
    auto fs = std::make_shared<CrashFs>();
    fs->PowerOffAt(point);
    const History h = ScriptedWorkload(fs);
    std::shared_ptr<CrashFs> image = fs->Crash(point);
    auto probe = image->Copy();
    RecoverOnly(probe, h);
    const std::uint64_t r = probe->ops();
    for (std::uint64_t j = 1; j <= r && failures < 5; ++j) {
      const std::uint64_t seed = point * 1000 + j;
      if (const char* s = std::getenv("RUNLOG_CRASH_SEED"); s != nullptr && std::strtoull(s, nullptr, 0) != seed)
        continue;
      auto during = image->Copy();
      during->PowerOffAt(j);
      RecoverOnly(during, h);
      const std::string err = RecoverAndCheck(during->Crash(seed), h, false);
      ++cases;
      if (!err.empty()) {
        ++failures;
        ADD_FAILURE() << "workload crashed at call " << point << ", its recovery at call " << j << ": " << err
                      << "\n  replay: " << ReplayCommand(seed);
      }
    }
  }
  EXPECT_GT(cases, 100u);
  std::printf("[ crash ] %llu crashes inside recovery, %.1f s\n", static_cast<unsigned long long>(cases),
              Seconds(start));
}

// The harness itself: acknowledgements that were never synced (durability
// none) must show up as lost after a power loss that drops what was unsynced.
TEST(CrashTest, HarnessCatchesAcknowledgementsThatWereNeverSynced) {
  // Power lost after the workload: every acknowledgement was written, none
  // synced, so all of them are gone. (Cutting the power half-way through the
  // calls instead depended on the threads' timing: under a sanitizer no push
  // had been acknowledged by then.)
  auto early = std::make_shared<CrashFs>();
  History h2 = RandomWorkload(early, {2, 2, 20, 4, Durability::none}, 3);
  std::size_t acked = 0;
  for (const RunHistory& r : h2) acked += r.acked.size();
  ASSERT_GT(acked, 0u);
  const std::string err = RecoverAndCheck(early->CrashLosingAllUnsynced(), h2, false);
  // Caught by the harness ("acknowledged seq ... lost"), or by recovery itself,
  // which refuses a log that ends below its floor (durable.seq / state.json).
  EXPECT_TRUE(err.find("acknowledged seq") != std::string::npos || err.find("was acknowledged") != std::string::npos)
      << "not caught: '" << err << "'";
}

}  // namespace
}  // namespace runlog::testing
