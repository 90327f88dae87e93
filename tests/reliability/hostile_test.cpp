// tests/reliability/hostile_test.cpp — SPEC invariant 6 (contained) against
// hostile input: fuzzed ids (accepted exactly when they match the SPEC's
// pattern), and every entry of the layout replaced by a symlink (to a file or
// folder outside the roots), a hard link to a file outside, a FIFO, or the
// wrong kind (a folder where a file belongs, a file where a folder belongs).
// The engine refuses them; `runlog verify --repair` and `runlog replay` go
// over the planted tree too; a snapshot of everything outside the roots
// (types, modes, sizes, contents, times, link targets) proves nothing there
// changed. Size: RUNLOG_HOSTILE_IDS (default 3,000 fuzzed ids; 300,000 with
// RUNLOG_LONG=1).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/ids.h"
#include "runlog/engine.h"
#include "support/crash_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

// path -> what lstat and read say about it.
using Snapshot = std::map<std::string, std::string>;

void Walk(const std::string& path, Snapshot* out) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    (*out)[path] = "missing";
    return;
  }
  // (Not st_nlink: removing a hard link planted inside the roots changes an
  // outside file's link count, and only that.)
  std::string d = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                  std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ino);
  if (S_ISREG(st.st_mode)) d += " " + ReadFile(path).value_or("<unreadable>");
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    d += " -> " + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  (*out)[path] = d;
  if (S_ISDIR(st.st_mode))
    for (const std::string& name : ListDir(path)) Walk(path + "/" + name, out);
}

Snapshot Snap(const std::string& path) {
  Snapshot s;
  Walk(path, &s);
  return s;
}

// The SPEC's pattern, written again from its text.
bool SpecValid(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(id[0])) return false;
  for (std::size_t i = 1; i < id.size(); ++i)
    if (!word(id[i]) && id[i] != '.' && id[i] != '-') return false;
  return true;
}

std::string FuzzId(std::mt19937_64& rng) {
  static const std::vector<std::string> kPieces = {
      "a", "Z", "0", "_", ".", "-", "/", "..", "../", "/etc", "\\", " ", "\n", std::string(1, '\0'),
      "\xc3\xa9", "\xff", "%2e", "~", "$HOME", "*", "?", ":", "x", "run-1", "CON", "\t", "\x7f"};
  std::string id;
  const int parts = static_cast<int>(rng() % 12);
  for (int i = 0; i < parts; ++i) id += kPieces[rng() % kPieces.size()];
  if (rng() % 16 == 0) id = std::string(120 + rng() % 16, 'a');  // around the 128 limit
  return id;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    outside_ = tmp_ / "outside";
    root_ = tmp_ / "runs";
    ASSERT_EQ(::mkdir(outside_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((outside_ + "/folder").c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(outside_ + "/secret.txt", "secret\n"));
    ASSERT_TRUE(WriteFile(outside_ + "/folder/inner.txt", "inner\n"));
  }
  Options Opts() const {
    Options o;
    o.runsRoot = root_;
    return o;
  }
  TempDir tmp_{"runlog-hostile"};
  std::string outside_, root_;
};

TEST_F(HostileTest, FuzzedIdsAreAcceptedExactlyWhenTheyMatchTheSpecAndNothingOutsideChanges) {
  const std::uint64_t n = SizeFromEnv("RUNLOG_HOSTILE_IDS", 3000, 300000);
  std::mt19937_64 rng(SeedFromEnv(606));
  const Snapshot before = Snap(outside_);
  auto engine = Engine::open(Opts()).value();
  std::uint64_t accepted = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string id = FuzzId(rng);
    const bool as_task = (i & 1) != 0;
    RunMetadata m;
    m.taskId = as_task ? id : "t";
    m.runId = as_task ? "r" : id;
    m.repoRoot = "/repo";
    auto r = engine->open_run(m);
    ASSERT_EQ(r.ok(), SpecValid(id)) << "id '" << id << "' (" << id.size() << " bytes): "
                                     << (r.ok() ? "accepted" : r.status().to_string());
    if (!r.ok()) {
      ASSERT_EQ(r.status().code(), Errc::invalid_argument) << r.status().to_string();
      continue;
    }
    ++accepted;
    ASSERT_TRUE(r->close().ok());
  }
  engine.reset();
  for (const std::string& task : ListDir(root_)) {
    EXPECT_TRUE(SpecValid(task)) << "a folder named '" << task << "' was made";
    for (const std::string& run : ListDir(root_ + "/" + task)) EXPECT_TRUE(SpecValid(run)) << run;
  }
  EXPECT_EQ(Snap(outside_), before) << "something outside the runs root changed";
  std::printf("[ hostile ] %llu fuzzed ids, %llu valid and accepted, the rest refused\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(accepted));
}

enum class Plant { symlink_file, symlink_dir, hard_link, fifo, folder, file };
const char* PlantName(Plant p) {
  switch (p) {
    case Plant::symlink_file: return "symlink to a file outside";
    case Plant::symlink_dir: return "symlink to a folder outside";
    case Plant::hard_link: return "hard link to a file outside";
    case Plant::fifo: return "FIFO";
    case Plant::folder: return "folder";
    case Plant::file: return "regular file";
  }
  return "?";
}

TEST_F(HostileTest, PlantedEntriesEverywhereInTheLayoutAreRefusedAndNothingOutsideChanges) {
  // Where in <root>/<task>/<run>/ to plant, and whether the engine must refuse it
  // (a stale temp file of an atomic write may be removed and replaced: its
  // entry only; or refused).
  struct Where {
    std::string rel;
    bool must_refuse;
  };
  const std::vector<Where> places = {
      {"t", true},                      {"t/r", true},
      {"t/r/worker.jsonl", true},       {"t/r/stdout.jsonl", true},
      {"t/r/stderr.jsonl", true},       {"t/r/durable.seq", true},
      {"t/r/meta.json", true},          {"t/r/state.json", true},
      {"t/r/checkpoints", true},        {"t/r/artifacts", true},
      {"t/r/state.json.tmp", false},    {"t/r/meta.json.tmp", false},
  };
  const Plant kinds[] = {Plant::symlink_file, Plant::symlink_dir, Plant::hard_link,
                         Plant::fifo,         Plant::folder,      Plant::file};
  int cases = 0;
  for (const Where& w : places) {
    for (Plant kind : kinds) {
      const bool is_dir = w.rel == "t" || w.rel == "t/r" || w.rel.find("checkpoints") != std::string::npos ||
                          w.rel.find("artifacts") != std::string::npos;
      if ((kind == Plant::folder && is_dir) || (kind == Plant::file && !is_dir)) continue;  // not hostile
      if (kind == Plant::hard_link && is_dir) continue;  // folders cannot be hard-linked
      SCOPED_TRACE(w.rel + " as a " + PlantName(kind));
      ASSERT_EQ(RunProcess({"/bin/rm", "-rf", root_}).exit_code, 0);
      {  // a clean, closed run with one record
        auto e = Engine::open(Opts()).value();
        RunMetadata m;
        m.taskId = "t";
        m.runId = "r";
        m.repoRoot = "/repo";
        runlog::Run run = e->open_run(m).value();
        Producer p(*e);
        ASSERT_TRUE(p.push_stdout(run, "hello\n")->wait().ok());
        ASSERT_TRUE(run.close().ok());
      }
      const std::string at = root_ + "/" + w.rel;
      ASSERT_EQ(RunProcess({"/bin/rm", "-rf", at}).exit_code, 0);
      switch (kind) {
        case Plant::symlink_file: ASSERT_EQ(::symlink((outside_ + "/secret.txt").c_str(), at.c_str()), 0); break;
        case Plant::symlink_dir: ASSERT_EQ(::symlink((outside_ + "/folder").c_str(), at.c_str()), 0); break;
        case Plant::hard_link: ASSERT_EQ(::link((outside_ + "/secret.txt").c_str(), at.c_str()), 0); break;
        case Plant::fifo: ASSERT_EQ(::mkfifo(at.c_str(), 0600), 0); break;
        case Plant::folder: ASSERT_EQ(::mkdir(at.c_str(), 0700), 0); break;
        case Plant::file: ASSERT_TRUE(WriteFile(at, "not a folder\n")); break;
      }
      const Snapshot before = Snap(outside_);
      // The engine, in a child: a hang on a FIFO is killed, not inherited.
      const Options o = Opts();
      ProcessResult child = RunInChild(
          [&] {
            auto e = Engine::open(o);
            if (!e.ok()) return 100;
            RunMetadata m;
            m.taskId = "t";
            m.runId = "r";
            m.repoRoot = "/repo";
            auto r = e.value()->open_run(m);
            if (!r.ok()) return 10 + static_cast<int>(r.status().code());
            Producer p(*e.value());
            auto t = p.push_stdout(r.value(), "more\n");
            if (!t.ok() || !t->wait().ok()) return 50;
            return r->close().ok() ? 0 : 51;
          },
          std::chrono::seconds(20));
      ASSERT_FALSE(child.timed_out) << "the engine hung";
      if (w.must_refuse) {
        EXPECT_NE(child.exit_code, 0) << "accepted: " << child.describe();
      }
      // The CLI over the planted tree: it reports, it never writes through.
      ProcessResult verify = RunCli({"verify", "--repair", root_});
      EXPECT_FALSE(verify.timed_out);
      EXPECT_NE(verify.exit_code, 2) << verify.err;
      ProcessResult replay = RunCli({"replay", root_});
      EXPECT_FALSE(replay.timed_out);
      EXPECT_EQ(Snap(outside_), before) << "something outside the runs root changed";
      ++cases;
    }
  }
  std::printf("[ hostile ] %d planted entries: refused, not written through, nothing outside changed\n", cases);
}

}  // namespace
}  // namespace runlog::testing
