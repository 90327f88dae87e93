// tests/io/run_dir_test.cpp — the local-run-v1 layout: creation, metadata, state,
// durable.seq, checkpoints, containment, and folders left half-made by a crash.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/timefmt.h"
#include "io/fs.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

RunMetadata TestMeta() {
  RunMetadata m;
  m.taskId = "t1";
  m.stepId = "s1";
  m.stepName = "Build \"it\"";
  m.runId = "r1";
  m.workerKind = "codex";
  m.attempt = 2;
  m.repoRoot = "/repo";
  m.worktreePath = "/repo/.wt/t1";
  m.createdAt = "2026-11-21T10:17:00.123Z";
  m.checkpointMode = "git";
  return m;
}

class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runlog-rundir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(posix_fs()->open_root(tmp_ + "/runs", true, 0700).get(root_).ok());
    meta_ = TestMeta();
  }
  void TearDown() override {
    files_.close();
    root_.reset();
    std::filesystem::remove_all(tmp_);
  }

  // Paths under the runs root.
  std::string P(const std::string& rel) const { return tmp_ + "/runs/" + rel; }
  std::string Run(const std::string& file = "") const { return P("t1/r1" + (file.empty() ? "" : "/" + file)); }
  std::string ReadFile(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteFile(const std::string& path, const std::string& content) const {
    std::ofstream(path, std::ios::binary) << content;
  }
  mode_t Mode(const std::string& path) const {
    struct stat st{};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  Result<RecoveredRun> Open(const LayoutOptions& opts = {}) {
    files_.close();
    return open_run_dir(*root_, meta_, opts, &files_);
  }
  void ExpectFreshLayout(const RecoveredRun& r) {
    EXPECT_EQ(r.last_seq, 0u);
    EXPECT_TRUE(r.repairs.empty());
    for (const char* f : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"}) EXPECT_EQ(ReadFile(Run(f)), "") << f;
    EXPECT_EQ(ReadFile(Run("durable.seq")), "00000000000000000000\n");
    EXPECT_EQ(ReadFile(Run("meta.json")), meta_to_json(r.meta));
    EXPECT_EQ(ReadFile(Run("state.json")), state_to_json(r.state));
    EXPECT_EQ(r.state.status, RunStatus::prepared);
    EXPECT_TRUE(std::filesystem::is_directory(Run("checkpoints")));
    EXPECT_TRUE(std::filesystem::is_directory(Run("artifacts")));
    EXPECT_FALSE(std::filesystem::exists(Run("meta.json.tmp")));
    EXPECT_FALSE(std::filesystem::exists(Run("state.json.tmp")));
  }

  std::string tmp_;
  std::unique_ptr<Dir> root_;
  RunMetadata meta_;
  RunFiles files_;
};

TEST_F(RunDirTest, NewRunLayoutModesAndContent) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  EXPECT_TRUE(r.created);
  EXPECT_TRUE(files_.is_open());
  for (auto& c : files_.channel) EXPECT_NE(c, nullptr);
  EXPECT_NE(files_.durable_seq, nullptr);
  ExpectFreshLayout(r);
  for (const char* d : {"t1", "t1/r1", "t1/r1/checkpoints", "t1/r1/artifacts"}) EXPECT_EQ(Mode(P(d)), 0700u) << d;
  for (const char* f : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl", "durable.seq", "meta.json", "state.json"})
    EXPECT_EQ(Mode(Run(f)), 0600u) << f;

  // meta.json parsed back is the given metadata.
  RunMetadata back;
  ASSERT_TRUE(meta_from_json(ReadFile(Run("meta.json"))).get(back).ok());
  EXPECT_EQ(meta_to_json(back), meta_to_json(meta_));
  EXPECT_EQ(back.stepName, "Build \"it\"");
  // state.json: prepared, attempt and times from meta.
  RunStateSnapshot st;
  ASSERT_TRUE(state_from_json(ReadFile(Run("state.json"))).get(st).ok());
  EXPECT_EQ(st.status, RunStatus::prepared);
  EXPECT_EQ(st.attempt, 2);
  EXPECT_EQ(st.startedAt, meta_.createdAt);
  EXPECT_EQ(st.updatedAt, meta_.createdAt);
  EXPECT_EQ(st.lastEventSeq, 0u);
  EXPECT_EQ(st.checkpointSeq, 0u);
  EXPECT_FALSE(st.finishedAt.has_value());
  EXPECT_FALSE(st.exitCode.has_value());
  // Channel descriptors are the run's files.
  ASSERT_TRUE(files_.channel[1]->pwrite("x", 1, 0).ok());
  EXPECT_EQ(ReadFile(Run("stdout.jsonl")), "x");
}

TEST_F(RunDirTest, ConfiguredModesAreUsed) {
  mode_t old = ::umask(022);
  RecoveredRun r;
  Status st = Open(LayoutOptions{0750, 0640}).get(r);
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(Mode(Run()), 0750u);
  EXPECT_EQ(Mode(Run("stdout.jsonl")), 0640u);
  EXPECT_EQ(Mode(Run("meta.json")), 0640u);
}

TEST_F(RunDirTest, EmptyCreatedAtMeansNow) {
  meta_.createdAt.clear();
  std::int64_t before = now_unix_ms();
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  std::int64_t after = now_unix_ms();
  std::optional<std::int64_t> ms = parse_iso_ms(r.meta.createdAt);
  ASSERT_TRUE(ms.has_value()) << r.meta.createdAt;
  EXPECT_GE(*ms, before);
  EXPECT_LE(*ms, after);
  EXPECT_EQ(r.state.startedAt, r.meta.createdAt);
}

TEST_F(RunDirTest, MetaJsonKeyOrderAndOptionalFields) {
  RunMetadata m = TestMeta();
  EXPECT_EQ(meta_to_json(m),
            "{\"layoutVersion\":\"local-run-v1\",\"taskId\":\"t1\",\"stepId\":\"s1\",\"stepName\":\"Build \\\"it\\\"\","
            "\"runId\":\"r1\",\"workerKind\":\"codex\",\"attempt\":2,\"repoRoot\":\"/repo\",\"worktreePath\":\"/repo/.wt/t1\","
            "\"createdAt\":\"2026-11-21T10:17:00.123Z\",\"checkpointMode\":\"git\"}\n");
  m.promptSummary = "fix\nit";
  m.command = "make";
  std::string j = meta_to_json(m);
  EXPECT_NE(j.find(",\"checkpointMode\":\"git\",\"promptSummary\":\"fix\\nit\",\"command\":\"make\"}\n"),
            std::string::npos)
      << j;
  RunMetadata back;
  ASSERT_TRUE(meta_from_json(j).get(back).ok());
  EXPECT_EQ(back.promptSummary, m.promptSummary);
  EXPECT_EQ(back.command, m.command);
  EXPECT_EQ(meta_to_json(back), j);
}

TEST_F(RunDirTest, MetaFromJsonNamesTheBadField) {
  std::string good = meta_to_json(TestMeta());
  auto expect_bad = [](const std::string& json, const char* field) {
    Result<RunMetadata> r = meta_from_json(json);
    EXPECT_EQ(r.status().code(), Errc::invalid_argument) << json;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().to_string();
  };
  expect_bad("{\"layoutVersion\":\"local-run-v1\",\"taskId\":\"t1\"}", "stepId");
  std::string s = good;
  s.replace(s.find("\"attempt\":2"), 11, "\"attempt\":\"2\"");
  expect_bad(s, "attempt");
  s = good;
  s.replace(s.find("local-run-v1"), 12, "local-run-v9");
  expect_bad(s, "layoutVersion");
  s = good;
  s.replace(s.find("\"workerKind\":\"codex\""), 20, "\"workerKind\":7");
  expect_bad(s, "workerKind");
  expect_bad("not json", "not JSON");
  expect_bad("[1]", "not a JSON object");
}

TEST_F(RunDirTest, StateJsonRoundTripAndErrors) {
  RunStateSnapshot s;
  s.status = RunStatus::failed;
  s.attempt = 3;
  s.startedAt = "2026-11-21T10:17:00.123Z";
  s.updatedAt = "2026-11-21T10:18:00.000Z";
  s.finishedAt = "2026-11-21T10:18:00.000Z";
  s.lastEventSeq = 42;
  s.checkpointSeq = 2;
  s.summary = "boom";
  s.exitCode = -9;
  std::string j = state_to_json(s);
  EXPECT_EQ(j,
            "{\"status\":\"failed\",\"attempt\":3,\"startedAt\":\"2026-11-21T10:17:00.123Z\","
            "\"updatedAt\":\"2026-11-21T10:18:00.000Z\",\"finishedAt\":\"2026-11-21T10:18:00.000Z\","
            "\"lastEventSeq\":42,\"checkpointSeq\":2,\"summary\":\"boom\",\"exitCode\":-9}\n");
  RunStateSnapshot back;
  ASSERT_TRUE(state_from_json(j).get(back).ok());
  EXPECT_EQ(state_to_json(back), j);

  auto expect_bad = [](std::string json, const char* field) {
    Result<RunStateSnapshot> r = state_from_json(json);
    EXPECT_EQ(r.status().code(), Errc::invalid_argument) << json;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().to_string();
  };
  std::string bad = j;
  bad.replace(bad.find("failed"), 6, "weird");
  expect_bad(bad, "status");
  bad = j;
  bad.replace(bad.find("42"), 2, "-1");
  expect_bad(bad, "lastEventSeq");
  bad = j;
  bad.replace(bad.find("-9"), 2, "1.5");
  expect_bad(bad, "exitCode");
  expect_bad("{\"status\":\"running\"}", "attempt");
}

TEST_F(RunDirTest, DurableSeqFormatAndParse) {
  EXPECT_EQ(parse_durable_seq("00000000000000000042\n"), 42u);
  EXPECT_EQ(parse_durable_seq("18446744073709551615\n"), UINT64_MAX);
  EXPECT_EQ(parse_durable_seq("18446744073709551616\n"), std::nullopt);
  EXPECT_EQ(parse_durable_seq("42\n"), std::nullopt);
  EXPECT_EQ(parse_durable_seq("0000000000000000004x\n"), std::nullopt);
  EXPECT_EQ(parse_durable_seq("000000000000000000042"), std::nullopt);
  EXPECT_EQ(parse_durable_seq(""), std::nullopt);
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  ASSERT_TRUE(write_durable_seq(*files_.durable_seq, 1234567).ok());
  EXPECT_EQ(ReadFile(Run("durable.seq")), "00000000000001234567\n");
  ASSERT_TRUE(write_durable_seq(*files_.durable_seq, 9).ok());
  EXPECT_EQ(ReadFile(Run("durable.seq")), "00000000000000000009\n");
}

// The writer remembers what it wrote (RunFiles::durable_written) instead of
// reading durable.seq back before each rewrite: the bytes are the same as
// with a read, only the changed digits are written, and an unknown value
// (kDurableUnknown) is read first.
TEST_F(RunDirTest, DurableSeqRewrittenFromWhatTheWriterRemembers) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  EXPECT_EQ(files_.durable_written, 0u) << "recovery wrote 0 and remembers it";
  std::uint64_t written = files_.durable_written;
  for (std::uint64_t seq : {9u, 10u, 99u, 100u, 1234567u, 1234599u, 1234600u}) {
    ASSERT_TRUE(write_durable_seq(*files_.durable_seq, seq, &written).ok());
    EXPECT_EQ(written, seq);
    EXPECT_EQ(parse_durable_seq(ReadFile(Run("durable.seq"))), seq);
  }
  // Unknown: the file is read first, and garbage is replaced whole.
  WriteFile(Run("durable.seq"), "garbage\n");
  written = kDurableUnknown;
  ASSERT_TRUE(write_durable_seq(*files_.durable_seq, 1234601, &written).ok());
  EXPECT_EQ(ReadFile(Run("durable.seq")), "00000000000001234601\n");
  EXPECT_EQ(written, 1234601u);
}

TEST_F(RunDirTest, GarbageDurableSeqIsRewrittenOnOpen) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  WriteFile(Run("durable.seq"), "garbage that is longer than twenty-one bytes\n");
  ASSERT_TRUE(Open().get(r).ok());
  EXPECT_EQ(ReadFile(Run("durable.seq")), "00000000000000000000\n");
}

TEST_F(RunDirTest, CheckpointDirs) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  ASSERT_TRUE(create_checkpoint_dir(*files_.dir, 1, {}).ok());
  ASSERT_TRUE(create_checkpoint_dir(*files_.dir, 1, {}).ok());  // existing is fine
  ASSERT_TRUE(create_checkpoint_dir(*files_.dir, 12, {}).ok());
  EXPECT_EQ(Mode(Run("checkpoints/1")), 0700u);
  EXPECT_TRUE(std::filesystem::is_directory(Run("checkpoints/12")));
}

TEST_F(RunDirTest, WriteStateReplacesStateJson) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  RunStateSnapshot s = r.state;
  s.status = RunStatus::running;
  s.lastEventSeq = 5;
  ASSERT_TRUE(write_state(*files_.dir, s, {}).ok());
  EXPECT_EQ(ReadFile(Run("state.json")), state_to_json(s));
  EXPECT_EQ(Mode(Run("state.json")), 0600u);
}

TEST_F(RunDirTest, ReopenRunFiles) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  files_.close();
  EXPECT_FALSE(files_.is_open());
  ASSERT_TRUE(reopen_run_files(*root_, "t1", "r1", &files_).ok());
  EXPECT_TRUE(files_.is_open());
  ASSERT_TRUE(files_.channel[2]->pwrite("e", 1, 0).ok());
  EXPECT_EQ(ReadFile(Run("stderr.jsonl")), "e");
  RunFiles other;
  EXPECT_EQ(reopen_run_files(*root_, "t1", "r2", &other).code(), Errc::not_found);
  EXPECT_EQ(reopen_run_files(*root_, "..", "r1", &other).code(), Errc::invalid_argument);
  EXPECT_FALSE(other.is_open());
  // No creation: a missing channel file is an error.
  ASSERT_EQ(::unlink(Run("stdout.jsonl").c_str()), 0);
  EXPECT_EQ(reopen_run_files(*root_, "t1", "r1", &other).code(), Errc::not_found);
  EXPECT_FALSE(std::filesystem::exists(Run("stdout.jsonl")));
}

TEST_F(RunDirTest, ExistingRunKeepsItsMetaJson) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  std::string meta_before = ReadFile(Run("meta.json"));
  meta_.stepName = "something else";
  meta_.attempt = 9;
  ASSERT_TRUE(Open().get(r).ok());
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.meta.stepName, "Build \"it\"");
  EXPECT_EQ(r.meta.attempt, 2);
  EXPECT_EQ(ReadFile(Run("meta.json")), meta_before);
}

// A crash right after the run folder was made: nothing in it yet.
TEST_F(RunDirTest, CrashAfterMkdirIsCompleted) {
  std::filesystem::create_directories(Run());
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  EXPECT_FALSE(r.created);
  ExpectFreshLayout(r);
  EXPECT_EQ(r.meta.stepName, meta_.stepName);
}

// A crash part-way: some files made, meta.json only as its temp file.
TEST_F(RunDirTest, CrashMidCreationIsCompleted) {
  std::filesystem::create_directories(Run("checkpoints"));
  WriteFile(Run("worker.jsonl"), "");
  WriteFile(Run("meta.json.tmp"), "{\"layoutVer");
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  ExpectFreshLayout(r);
  // Missing files after creation are made again, state.json is rebuilt.
  for (const char* f : {"stdout.jsonl", "state.json", "durable.seq"}) ASSERT_EQ(::unlink(Run(f).c_str()), 0);
  ASSERT_TRUE(Open().get(r).ok());
  ExpectFreshLayout(r);
}

TEST_F(RunDirTest, UnparsableStateJsonIsRebuilt) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  WriteFile(Run("state.json"), "{\"status\":");
  ASSERT_TRUE(Open().get(r).ok());
  ExpectFreshLayout(r);
}

TEST_F(RunDirTest, MetaJsonOfAnotherRunIsCorruption) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  RunMetadata other = meta_;
  other.runId = "r2";
  WriteFile(Run("meta.json"), meta_to_json(other));
  Status st = Open().status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("meta.json"), std::string::npos) << st.to_string();
  WriteFile(Run("meta.json"), "{\"layoutVersion\":\"local-run-v1\"");
  st = Open().status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_EQ(ReadFile(Run("meta.json")), "{\"layoutVersion\":\"local-run-v1\"");  // never rewritten
}

TEST_F(RunDirTest, BadIdsAreRefusedAndNothingIsMade) {
  for (const char* id : {"..", "a/b", "", ".hidden", "x y"}) {
    meta_.taskId = id;
    EXPECT_EQ(Open().status().code(), Errc::invalid_argument) << id;
    meta_ = TestMeta();
    meta_.runId = id;
    EXPECT_EQ(Open().status().code(), Errc::invalid_argument) << id;
    meta_ = TestMeta();
  }
  EXPECT_TRUE(std::filesystem::is_empty(P("")));
}

TEST_F(RunDirTest, SymlinkedStreamFileIsRefusedAndTargetUnchanged) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  files_.close();
  WriteFile(tmp_ + "/outside", "do not touch");
  ASSERT_EQ(::unlink(Run("stdout.jsonl").c_str()), 0);
  ASSERT_EQ(::symlink((tmp_ + "/outside").c_str(), Run("stdout.jsonl").c_str()), 0);
  Status st = Open().status();
  EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
  EXPECT_NE(st.message().find("stdout.jsonl"), std::string::npos) << st.to_string();
  EXPECT_EQ(ReadFile(tmp_ + "/outside"), "do not touch");
  EXPECT_EQ(reopen_run_files(*root_, "t1", "r1", &files_).code(), Errc::refused);
}

TEST_F(RunDirTest, FifoStreamFileIsRefusedWithoutHanging) {
  std::filesystem::create_directories(Run());
  ASSERT_EQ(::mkfifo(Run("stderr.jsonl").c_str(), 0600), 0);
  auto t0 = std::chrono::steady_clock::now();
  Status st = Open().status();
  EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
  EXPECT_NE(st.message().find("stderr.jsonl"), std::string::npos) << st.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(RunDirTest, HardLinkedStreamFileIsRefused) {
  RecoveredRun r;
  ASSERT_TRUE(Open().get(r).ok());
  files_.close();
  ASSERT_EQ(::link(Run("worker.jsonl").c_str(), (tmp_ + "/copy").c_str()), 0);
  Status st = Open().status();
  EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
  EXPECT_NE(st.message().find("worker.jsonl"), std::string::npos) << st.to_string();
}

TEST_F(RunDirTest, SymlinkedDurableSeqIsRefused) {
  std::filesystem::create_directories(Run());
  WriteFile(tmp_ + "/outside", "x");
  ASSERT_EQ(::symlink((tmp_ + "/outside").c_str(), Run("durable.seq").c_str()), 0);
  EXPECT_EQ(Open().status().code(), Errc::refused);
  EXPECT_EQ(ReadFile(tmp_ + "/outside"), "x");
}

TEST_F(RunDirTest, SymlinkedTaskOrRunFolderIsRefused) {
  std::filesystem::create_directories(tmp_ + "/elsewhere");
  ASSERT_EQ(::symlink((tmp_ + "/elsewhere").c_str(), P("t1").c_str()), 0);
  Status st = Open().status();
  EXPECT_EQ(st.code(), Errc::refused) << st.to_string();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ + "/elsewhere"));

  ASSERT_EQ(::unlink(P("t1").c_str()), 0);
  std::filesystem::create_directories(P("t1"));
  ASSERT_EQ(::symlink((tmp_ + "/elsewhere").c_str(), P("t1/r1").c_str()), 0);
  EXPECT_EQ(Open().status().code(), Errc::refused);
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ + "/elsewhere"));
}

}  // namespace
}  // namespace runlog::io

namespace runlog::io {
namespace {

// A run open in one writer is refused to a second, before anything is read or
// cut; a reader sees the lock; closing the writer's files releases it.
TEST(RunDirLock, SecondWriterIsRefusedAndReadersSeeTheLock) {
  char tmpl[] = "/tmp/runlog-lock-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string tmp = tmpl;
  std::unique_ptr<Dir> root;
  ASSERT_TRUE(posix_fs()->open_root(tmp + "/runs", true, 0700).get(root).ok());
  RunMetadata meta = TestMeta();
  RunFiles first;
  ASSERT_TRUE(open_run_dir(*root, meta, {}, &first).ok());
  ASSERT_TRUE(first.channel[1]->pwrite("torn", 4, 0).ok());  // what recovery would cut

  RunFiles second;
  Result<RecoveredRun> again = open_run_dir(*root, meta, {}, &second);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Errc::refused) << again.status().to_string();
  EXPECT_NE(again.status().message().find("durable.seq"), std::string::npos) << again.status().to_string();
  EXPECT_EQ(std::filesystem::file_size(tmp + "/runs/t1/r1/stdout.jsonl"), 4u) << "cut under a live writer";

  std::unique_ptr<Dir> task, run;
  ASSERT_TRUE(root->open_dir("t1", false, 0).get(task).ok());
  ASSERT_TRUE(task->open_dir("r1", false, 0).get(run).ok());
  std::unique_ptr<File> probe;
  ASSERT_TRUE(run->open_file("durable.seq", OpenMode::read_only, 0).get(probe).ok());
  bool locked = false;
  ASSERT_TRUE(probe->locked_by_other().get(locked).ok());
  EXPECT_TRUE(locked);

  first.evict();  // idle files closed: the lock stays with durable.seq
  ASSERT_TRUE(probe->locked_by_other().get(locked).ok());
  EXPECT_TRUE(locked);
  ASSERT_TRUE(reopen_run_files(*root, "t1", "r1", &first).ok());
  EXPECT_TRUE(first.is_open());

  first.close();
  ASSERT_TRUE(probe->locked_by_other().get(locked).ok());
  EXPECT_FALSE(locked);
  RecoveredRun r;
  ASSERT_TRUE(open_run_dir(*root, meta, {}, &second).get(r).ok());
  EXPECT_EQ(std::filesystem::file_size(tmp + "/runs/t1/r1/stdout.jsonl"), 0u);
  second.close();
  probe.reset();
  run.reset();
  task.reset();
  root.reset();
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace runlog::io
