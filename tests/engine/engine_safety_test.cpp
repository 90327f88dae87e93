// tests/engine/engine_safety_test.cpp — SPEC invariant 6 (contained) and the
// refusals of Engine::open: ids, symlinks / FIFOs / hard links where run files
// belong, folder and file modes, the open-file limit, and option validation.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <ostream>

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

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode;
}

// ===================================================================== ids

struct BadId {
  const char* name;
  std::string id;
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const BadId& c, std::ostream* os) { *os << c.name; }

class EngineBadIdTest : public ::testing::TestWithParam<BadId>, public EngineFixture {};

TEST_P(EngineBadIdTest, BadTaskIdIsRefusedAndNothingIsCreated) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  auto r = engine->open_run(Meta(GetParam().id, "r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("taskId"), std::string::npos) << r.status().to_string();
  EXPECT_TRUE(ListDir(root()).empty());
  EXPECT_EQ(ListDir(tmp()), std::vector<std::string>{"runs"}) << "something was created beside the runs root";
}

TEST_P(EngineBadIdTest, BadRunIdIsRefusedAndNothingIsCreated) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  auto r = engine->open_run(Meta("task", GetParam().id));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("runId"), std::string::npos) << r.status().to_string();
  EXPECT_TRUE(ListDir(root()).empty()) << "the task folder was created for a bad runId";
  EXPECT_EQ(ListDir(tmp()), std::vector<std::string>{"runs"});
}

INSTANTIATE_TEST_SUITE_P(Ids, EngineBadIdTest,
                         ::testing::Values(BadId{"dotdot_slash", "../x"}, BadId{"slash", "a/b"}, BadId{"empty", ""},
                                           BadId{"hidden", ".hidden"}, BadId{"dotdot", ".."}, BadId{"dot", "."},
                                           BadId{"too_long", std::string(129, 'a')}, BadId{"space", "a b"},
                                           BadId{"nul", std::string("a\0b", 3)}, BadId{"non_ascii", "caf\xC3\xA9"},
                                           BadId{"dash_first", "-x"}),
                         [](const ::testing::TestParamInfo<BadId>& p) { return std::string(p.param.name); });

class EngineSafetyTest : public EngineTestBase {};

TEST_F(EngineSafetyTest, LongestValidIdsAreAccepted) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  const std::string task = "_" + std::string(127, 'T'), run = "0" + std::string(126, 'r') + "-";
  runlog::Run r = OpenRun(*engine, task, run);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r.close().ok());
  EXPECT_TRUE(CheckRun(run_dir(task, run)));
}

// ================================================== symlinks, FIFOs, links

TEST_F(EngineSafetyTest, SymlinkedTaskFolderIsRefusedAndItsTargetUntouched) {
  const std::string target = tmp() + "/elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(::symlink(target.c_str(), (root() + "/task").c_str()), 0);
  auto r = engine->open_run(Meta("task", "r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::refused) << r.status().to_string();
  EXPECT_TRUE(ListDir(target).empty()) << "something was written through the symlink";
  EXPECT_TRUE(S_ISLNK(ModeOf(root() + "/task")));
}

TEST_F(EngineSafetyTest, SymlinkedRunFolderIsRefused) {
  const std::string target = tmp() + "/elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(::mkdir((root() + "/task").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), (root() + "/task/r1").c_str()), 0);
  auto r = engine->open_run(Meta("task", "r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::refused) << r.status().to_string();
  EXPECT_TRUE(ListDir(target).empty());
}

// A run made and closed by one engine, whose stdout.jsonl is then replaced.
class EnginePlantedFileTest : public EngineTestBase {
 protected:
  void SetUp() override {
    auto engine = OpenEngine(MakeOptions());
    ASSERT_NE(engine, nullptr);
    runlog::Run run = OpenRun(*engine, "task", "r1");
    Producer p(*engine);
    ASSERT_EQ(PushStdoutAndWait(p, run, "hello\n"), 1u);
    ASSERT_TRUE(run.close().ok());
    stdout_path_ = run_dir("task", "r1") + "/stdout.jsonl";
  }
  std::string stdout_path_;
};

TEST_F(EnginePlantedFileTest, SymlinkAsChannelFileIsRefusedAndNotWrittenThrough) {
  const std::string outside = tmp() + "/outside.txt";
  ASSERT_TRUE(WriteFile(outside, "secret\n"));
  ASSERT_EQ(::unlink(stdout_path_.c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), stdout_path_.c_str()), 0);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  auto r = engine->open_run(Meta("task", "r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::refused) << r.status().to_string();
  EXPECT_EQ(ReadFile(outside), "secret\n");
  EXPECT_TRUE(S_ISLNK(ModeOf(stdout_path_)));
}

TEST_F(EnginePlantedFileTest, HardLinkedChannelFileIsRefused) {
  const std::string other = tmp() + "/other-name";
  const std::optional<std::string> before = ReadFile(stdout_path_);
  ASSERT_EQ(::link(stdout_path_.c_str(), other.c_str()), 0);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  auto r = engine->open_run(Meta("task", "r1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::refused) << r.status().to_string();
  EXPECT_EQ(ReadFile(other), before);
}

TEST_F(EnginePlantedFileTest, FifoAsChannelFileIsRefusedWithoutHanging) {
  ASSERT_EQ(::unlink(stdout_path_.c_str()), 0);
  ASSERT_EQ(::mkfifo(stdout_path_.c_str(), 0600), 0);
  struct stat before;
  ASSERT_EQ(::stat(stdout_path_.c_str(), &before), 0);
  const Options options = MakeOptions();
  // In a child process: a hang there is killed, not inherited by the suite.
  ProcessResult child = RunInChild(
      [&] {
        auto engine = Engine::open(options);
        if (!engine.ok()) return 100;
        auto r = engine.value()->open_run(Meta("task", "r1"));
        return r.ok() ? 0 : static_cast<int>(r.status().code());
      },
      20s);
  ASSERT_FALSE(child.timed_out) << "open_run hung on a FIFO";
  EXPECT_EQ(child.exit_code, static_cast<int>(Errc::refused)) << child.describe();
  struct stat after;
  ASSERT_EQ(::stat(stdout_path_.c_str(), &after), 0);
  EXPECT_TRUE(S_ISFIFO(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

// ================================================================== modes

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST_F(EngineSafetyTest, NewFoldersAre0700AndFiles0600) {
  ScopedUmask umask(022);
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "r1");
  Producer p(*engine);
  ASSERT_EQ(PushStdoutAndWait(p, run, "x\n"), 1u);
  ASSERT_TRUE(run.reserve_checkpoint().ok());
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("task", "r1");
  for (const std::string& d : {root(), root() + "/task", dir, dir + "/checkpoints", dir + "/checkpoints/1",
                               dir + "/artifacts"}) {
    mode_t m = ModeOf(d);
    EXPECT_TRUE(S_ISDIR(m)) << d;
    EXPECT_EQ(m & 07777, 0700u) << d;
  }
  std::vector<std::string> files = ListDir(dir);
  EXPECT_EQ(files, (std::vector<std::string>{"artifacts", "checkpoints", "durable.seq", "meta.json", "state.json",
                                             "stderr.jsonl", "stdout.jsonl", "worker.jsonl"}));
  for (const char* f : {"durable.seq", "meta.json", "state.json", "stderr.jsonl", "stdout.jsonl", "worker.jsonl"}) {
    mode_t m = ModeOf(dir + "/" + f);
    EXPECT_TRUE(S_ISREG(m)) << f;
    EXPECT_EQ(m & 07777, 0600u) << f;
  }
}

TEST_F(EngineSafetyTest, ConfiguredModesAreUsed) {
  ScopedUmask umask(022);
  Options o = MakeOptions();
  o.dirMode = 0750;
  o.fileMode = 0640;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "task", "r1");
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("task", "r1");
  EXPECT_EQ(ModeOf(dir) & 07777, 0750u);
  EXPECT_EQ(ModeOf(root() + "/task") & 07777, 0750u);
  EXPECT_EQ(ModeOf(dir + "/stdout.jsonl") & 07777, 0640u);
  EXPECT_EQ(ModeOf(dir + "/state.json") & 07777, 0640u);
}

// ======================================================= open-file limit

// Descriptors of this process that point under `prefix`.
int OpenDescriptorsUnder(const std::string& prefix) {
  int n = 0;
  for (const std::string& fd : ListDir("/proc/self/fd")) {
    char buf[4096];
    ssize_t len = ::readlink(("/proc/self/fd/" + fd).c_str(), buf, sizeof buf);
    if (len > 0 && std::string_view(buf, static_cast<std::size_t>(len)).substr(0, prefix.size()) == prefix) ++n;
  }
  return n;
}

TEST_F(EngineSafetyTest, MoreRunsThanTheOpenFileLimitAllLandGapFree) {
  constexpr int kRuns = 20, kRounds = 5, kPerVisit = 10;
  Options o = MakeOptions(Durability::batch);
  o.openFileLimit = 16;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  std::vector<runlog::Run> runs;
  for (int r = 0; r < kRuns; ++r) runs.push_back(OpenRun(*engine, "limit", "run-" + std::to_string(r)));
  Producer p(*engine);
  // In rotation, a few runs at a time, so that the others go idle (and get
  // their files closed) and are written again later (reopened).
  for (int round = 0; round < kRounds; ++round) {
    for (int first = 0; first < kRuns; first += 4) {
      Ticket last;
      for (int r = first; r < first + 4; ++r) {
        for (int i = 0; i < kPerVisit; ++i) {
          auto t = p.push_stdout(runs[static_cast<std::size_t>(r)],
                                 "round " + std::to_string(round) + " i " + std::to_string(i) + "\n");
          ASSERT_TRUE(t.ok()) << t.status().to_string();
          last = t.value();
        }
      }
      ASSERT_TRUE(last.wait().ok());
    }
  }
  ASSERT_TRUE(engine->flush().ok());
  // Idle now: the engine must come back under its limit. Beyond it: the runs
  // root, and each open run's durable.seq, which holds the writer's lock.
  const int allowed = static_cast<int>(o.openFileLimit) + 1 + kRuns;
  EXPECT_TRUE([&] {
    for (int i = 0; i < 200; ++i) {
      if (OpenDescriptorsUnder(root()) <= allowed) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }()) << OpenDescriptorsUnder(root()) << " descriptors open under the runs root";
  for (const runlog::Run& run : runs) {
    EXPECT_TRUE(run.health().ok()) << run.health().to_string();
    ASSERT_TRUE(run.close().ok());
  }
  for (int r = 0; r < kRuns; ++r) {
    const std::string dir = run_dir("limit", "run-" + std::to_string(r));
    std::uint64_t last = 0;
    ASSERT_TRUE(CheckRun(dir, &last)) << "run " << r;
    EXPECT_EQ(last, std::uint64_t{kRounds} * kPerVisit) << "run " << r;
    EXPECT_EQ(ReadDurableSeq(dir), last) << "run " << r;
    EXPECT_EQ(ReadState(dir).lastEventSeq, last) << "run " << r;
  }
}

// ================================================================ options

struct BadOptions {
  const char* field;
  void (*apply)(Options&);
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const BadOptions& c, std::ostream* os) { *os << c.field; }

class EngineOptionsTest : public ::testing::TestWithParam<BadOptions>, public EngineFixture {};

TEST_P(EngineOptionsTest, NonsenseIsRefusedNamingTheFieldAndNothingIsCreated) {
  Options o = MakeOptions();
  GetParam().apply(o);
  auto r = Engine::open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument) << r.status().to_string();
  EXPECT_EQ(r.status().message().rfind(GetParam().field, 0), 0u)
      << "message does not start with the field: " << r.status().to_string();
  EXPECT_FALSE(Exists(root())) << "the runs root was created";
  EXPECT_FALSE(validate_options(o).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Fields, EngineOptionsTest,
    ::testing::Values(BadOptions{"maxBatchBytes", [](Options& o) { o.maxBatchBytes = 10; }},
                      BadOptions{"recordLimit", [](Options& o) { o.recordLimit = 0; }},
                      BadOptions{"inFlightBudget",
                                 [](Options& o) {
                                   o.recordLimit = 1024;
                                   o.inFlightBudget = 2047;
                                 }},
                      BadOptions{"syncThreads", [](Options& o) { o.syncThreads = 0; }},
                      BadOptions{"openFileLimit", [](Options& o) { o.openFileLimit = 1; }},
                      BadOptions{"maxBatchDelay", [](Options& o) { o.maxBatchDelay = std::chrono::microseconds(0); }},
                      BadOptions{"runsRoot", [](Options& o) { o.runsRoot.clear(); }}),
    [](const ::testing::TestParamInfo<BadOptions>& p) { return std::string(p.param.field); });

TEST(EngineOptionsDefaults, AreValid) { EXPECT_TRUE(validate_options(Options{}).ok()); }

}  // namespace
}  // namespace runlog::testing
