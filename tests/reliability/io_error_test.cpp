// tests/reliability/io_error_test.cpp — SPEC invariant 8 at every call index:
// EIO, ENOSPC, EINTR and short writes injected (once, and from then on) at each
// counted file-system call of a scripted workload, and at random calls of
// random multi-producer workloads. After each: no acknowledgement without a
// sync that succeeded after the bytes were written (checked by losing every
// unsynced byte and entry, then recovering: every acknowledged record must be
// there), and every waiting producer answered within a second. A failed fsync
// drops the dirty data as Linux does and lets the next fsync "succeed": a
// writer that retried and took that as durability would be caught, and the
// mutation check below shows the harness catches exactly that.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "io/fs.h"
#include "reliability/crash_harness.h"
#include "support/crash_fs.h"
#include "support/process.h"

namespace runlog::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Kind = CrashFs::FaultKind;

constexpr Kind kKinds[] = {Kind::eio, Kind::enospc, Kind::eintr, Kind::short_write};
const char* KindName(Kind k) {
  switch (k) {
    case Kind::eio: return "EIO";
    case Kind::enospc: return "ENOSPC";
    case Kind::eintr: return "EINTR";
    case Kind::short_write: return "short write";
  }
  return "?";
}

double MaxWaitMs(const History& h) {
  double m = 0;
  for (const RunHistory& r : h) m = std::max(m, r.max_wait_ms);
  return m;
}

TEST(IoErrorTest, EveryFaultAtEveryCallIndexOfAScriptedWorkload) {
  std::uint64_t k = 0;
  {
    auto fs = std::make_shared<CrashFs>();
    ScriptedWorkload(fs);
    k = fs->ops();
  }
  ASSERT_GT(k, 20u);
  const auto start = Clock::now();
  std::uint64_t cases = 0, struck = 0;
  int failures = 0;
  for (std::uint64_t at = 1; at <= k && failures < 5; ++at) {
    for (Kind kind : kKinds) {
      for (bool sticky : {false, true}) {
        auto fs = std::make_shared<CrashFs>();
        fs->Inject({at, kind, sticky, CrashFs::kAnyOp});
        History h;
        FinishesWithin(std::chrono::seconds(60), "the scripted workload under an injected fault",
                       [&] { h = ScriptedWorkload(fs); });
        ++cases;
        struck += fs->failures() != 0 ? 1 : 0;
        std::string err = RecoverAndCheck(fs->CrashLosingAllUnsynced(), h, false);
        if (err.empty() && MaxWaitMs(h) > 1000)
          err = "a producer waited " + std::to_string(MaxWaitMs(h)) + " ms for its answer";
        if (!err.empty()) {
          ++failures;
          ADD_FAILURE() << KindName(kind) << (sticky ? " from" : " once at") << " call " << at << " of " << k << ": "
                        << err;
        }
      }
    }
  }
  EXPECT_EQ(struck, cases) << "some injected faults never struck";
  std::printf("[ io-error ] %llu calls x 4 faults x {once, from then on} = %llu cases, %.1f s\n",
              static_cast<unsigned long long>(k), static_cast<unsigned long long>(cases),
              std::chrono::duration<double>(Clock::now() - start).count());
}

TEST(IoErrorTest, RandomFaultsInRandomMultiProducerWorkloads) {
  const bool replay = std::getenv("RUNLOG_CRASH_SEED") != nullptr;
  const std::uint64_t base = SeedFromEnv(77001);
  std::uint64_t cases = SizeFromEnv("RUNLOG_IO_ERROR_CASES", UnderSanitizer() ? 100 : 2000, 200000);
  if (replay) cases = 1;
  const WorkloadShape shape{8, 3, 30, 4, Durability::batch};
  std::uint64_t ops = 0;
  {
    auto fs = std::make_shared<CrashFs>();
    RandomWorkload(fs, shape, 1);
    ops = fs->ops();
  }
  const auto start = Clock::now();
  int failures = 0;
  for (std::uint64_t i = 0; i < cases && failures < 5; ++i) {
    const std::uint64_t seed = base + i;
    std::mt19937_64 rng(seed);
    auto fs = std::make_shared<CrashFs>();
    const CrashFs::Fault f{1 + rng() % ops, kKinds[rng() % 4], (rng() & 1) != 0, CrashFs::kAnyOp};
    fs->Inject(f);
    WorkloadShape sh = shape;
    sh.syncfs_files = seed % 3 == 0 ? 0 : seed % 3 == 1 ? 1 : 4;  // per-file syncs, syncfs, mixed
    History h;
    FinishesWithin(std::chrono::seconds(60), "a random workload under an injected fault",
                   [&] { h = RandomWorkload(fs, sh, seed); });
    std::string err = RecoverAndCheck(seed % 2 ? fs->CrashLosingAllUnsynced() : fs->Crash(seed), h, false);
    if (err.empty() && MaxWaitMs(h) > 1000)
      err = "a producer waited " + std::to_string(MaxWaitMs(h)) + " ms for its answer";
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << " (" << KindName(f.kind) << (f.sticky ? " from" : " once at") << " call "
                    << f.at << "): " << err << "\n  replay: " << ReplayCommand(seed);
    }
  }
  std::printf("[ io-error ] %llu random workloads with a random fault, %.1f s%s\n",
              static_cast<unsigned long long>(cases), std::chrono::duration<double>(Clock::now() - start).count(),
              UnderSanitizer() ? " (reduced size: sanitizer build)" : "");
}

// A writer with the bug PostgreSQL once had: it retries a failed fdatasync and
// takes the retry's success as durability. The harness must catch it.
std::string RunRetryingWriter(bool inject) {
  // The run's folder and files, made by the engine; one valid line taken from
  // a reference run.
  auto ref = std::make_shared<CrashFs>();
  {
    auto e = Engine::open(CrashOptions(ref)).value();
    Run run = e->open_run(CrashMeta("t", "m")).value();
    Producer p(*e);
    EXPECT_TRUE(p.push_stdout(run, "retried\n")->wait().ok());
    EXPECT_TRUE(run.close().ok());
  }
  std::string line;
  EXPECT_TRUE(ref->ReadNow(kCrashRoot, "t/m/stdout.jsonl", &line));

  auto fs = std::make_shared<CrashFs>();
  {
    auto e = Engine::open(CrashOptions(fs)).value();
    EXPECT_TRUE(e->open_run(CrashMeta("t", "m")).value().close().ok());
  }
  History h = {{"t", "m", true, {}, {}, {}, 0}};
  h[0].pushed[1] = "\"text\":\"retried\\n\"";
  h[0].channel[1] = "stdout";
  auto root = fs->open_root(kCrashRoot, false, 0).value();
  auto run = root->open_dir("t", false, 0).value()->open_dir("m", false, 0).value();
  auto file = run->open_file("stdout.jsonl", io::OpenMode::read_write, 0).value();
  if (inject) fs->Inject({fs->ops() + 2, Kind::eio, false, CrashFs::kDatasync});
  EXPECT_TRUE(file->pwrite(line.data(), line.size(), 0).ok());
  Status st = file->datasync();
  if (!st.ok()) st = file->datasync();  // the bug: a retry taken as success
  if (st.ok()) h[0].acked.insert(1);
  file.reset();
  return RecoverAndCheck(fs->CrashLosingAllUnsynced(), h, false);
}

TEST(IoErrorTest, MutationAnFsyncRetryTakenAsSuccessIsCaught) {
  EXPECT_EQ(RunRetryingWriter(false), "") << "the honest path must pass";
  const std::string caught = RunRetryingWriter(true);
  EXPECT_NE(caught.find("acknowledged seq 1 lost"), std::string::npos)
      << "a retried fsync taken as success went unnoticed: '" << caught << "'";
}

}  // namespace
}  // namespace runlog::testing
