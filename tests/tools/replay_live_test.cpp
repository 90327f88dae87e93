// tests/tools/replay_live_test.cpp — reading a run while a writer in another
// process appends to it. The writer is a forked child running the real engine
// on a file system whose fdatasync takes 15 ms, so records sit appended but
// not yet durable for a while. Readers (the library, `runlog replay`, and
// `runlog replay --follow`) must never show a record past durable.seq: every
// seq printed is checked against durable.seq read right after. --follow must
// print every record once, in order, and end when the run closes; Ctrl-C
// ends it with exit status 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "io/fs.h"
#include "io/reader.h"
#include "runlog/engine.h"
#include "support/process.h"
#include "support/run_files.h"

extern char** environ;

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- slow sync

// The highest value the writer has put in durable.seq, kept in memory shared
// with the forked writer. durable.seq is rewritten in place one digit at a
// time (io/run_dir.cpp), so a read of the file in the middle of a rewrite can
// give a value below one that a reader has already honoured: the file read
// after a reader is no upper bound of what the reader may have seen. This is:
// the writer raises it before each write to durable.seq to the value the file
// holds after that write, so it is never below the file and, since the engine
// writes durable.seq only after the sync, never above what is durable.
std::atomic<std::uint64_t>* DurableHighWater() {
  static auto* p = [] {
    void* m = ::mmap(nullptr, sizeof(std::atomic<std::uint64_t>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    return m == MAP_FAILED ? nullptr : new (m) std::atomic<std::uint64_t>(0);
  }();
  return p;
}

void RaiseDurableHighWater(io::File& f, const struct iovec* iov, int iovcnt, std::uint64_t offset) {
  char now[21] = {};  // 20 digits and a newline
  std::size_t got = 0;
  if (!f.pread(now, sizeof now, 0, &got).ok()) return;
  for (int i = 0; i < iovcnt; ++i) {
    for (std::size_t j = 0; j < iov[i].iov_len && offset < sizeof now; ++j, ++offset)
      now[offset] = static_cast<const char*>(iov[i].iov_base)[j];
  }
  std::uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (now[i] < '0' || now[i] > '9') return;
    v = v * 10 + static_cast<std::uint64_t>(now[i] - '0');
  }
  auto* hw = DurableHighWater();
  std::uint64_t cur = hw->load();
  while (cur < v && !hw->compare_exchange_weak(cur, v)) {
  }
}

class SlowFile final : public io::File {
 public:
  explicit SlowFile(std::unique_ptr<io::File> f) : f_(std::move(f)) {}
  Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    if (f_->path().ends_with("/durable.seq")) RaiseDurableHighWater(*f_, iov, iovcnt, offset);
    return f_->pwritev(iov, iovcnt, offset);
  }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    return f_->pread(buf, n, offset, got);
  }
  Status datasync() override {
    std::this_thread::sleep_for(15ms);
    return f_->datasync();
  }
  Status truncate(std::uint64_t size) override { return f_->truncate(size); }
  Result<std::uint64_t> size() override { return f_->size(); }
  const std::string& path() const override { return f_->path(); }
  Status lock_exclusive() override { return f_->lock_exclusive(); }
  Result<bool> locked_by_other() override { return f_->locked_by_other(); }

 private:
  std::unique_ptr<io::File> f_;
};

class SlowDir final : public io::Dir {
 public:
  explicit SlowDir(std::unique_ptr<io::Dir> d) : d_(std::move(d)) {}
  Result<std::unique_ptr<io::Dir>> open_dir(std::string_view name, bool create, mode_t mode, bool* created) override {
    std::unique_ptr<io::Dir> d;
    RUNLOG_RETURN_IF_ERROR(d_->open_dir(name, create, mode, created).get(d));
    return std::unique_ptr<io::Dir>(new SlowDir(std::move(d)));
  }
  Result<std::unique_ptr<io::File>> open_file(std::string_view name, io::OpenMode mode, mode_t perm,
                                              bool* created) override {
    std::unique_ptr<io::File> f;
    RUNLOG_RETURN_IF_ERROR(d_->open_file(name, mode, perm, created).get(f));
    return std::unique_ptr<io::File>(new SlowFile(std::move(f)));
  }
  Status sync() override { return d_->sync(); }
  Status sync_filesystem() override { return d_->sync_filesystem(); }
  Status rename(std::string_view from, std::string_view to) override { return d_->rename(from, to); }
  Status remove(std::string_view name) override { return d_->remove(name); }
  Result<std::vector<std::string>> list() override { return d_->list(); }
  Result<bool> exists(std::string_view name) override { return d_->exists(name); }
  const std::string& path() const override { return d_->path(); }

 private:
  std::unique_ptr<io::Dir> d_;
};

class SlowSyncFs final : public io::Fs {
 public:
  Result<std::unique_ptr<io::Dir>> open_root(const std::string& path, bool create, mode_t mode) override {
    std::unique_ptr<io::Dir> d;
    RUNLOG_RETURN_IF_ERROR(io::posix_fs()->open_root(path, create, mode).get(d));
    return std::unique_ptr<io::Dir>(new SlowDir(std::move(d)));
  }
};

// ------------------------------------------------------------------ writer

constexpr int kRecords = 1500;

// Forks a child that opens <root>/live/run with the engine, pushes kRecords
// records (stdout, stderr, lifecycle) a little at a time, then
// step_completed (when `finish`), and closes. Returns its pid.
pid_t StartWriter(const std::string& root, bool finish) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int code = 1;
  {
    Options o;
    o.runsRoot = root;
    o.durability = Durability::batch;
    o.fs = std::make_shared<SlowSyncFs>();
    auto engine = Engine::open(o);
    if (engine.ok()) {
      RunMetadata m;
      m.taskId = "live";
      m.runId = "run";
      m.stepName = "live";
      m.workerKind = "test";
      m.checkpointMode = "none";
      auto run = engine.value()->open_run(m);
      if (run.ok()) {
        Producer p(*engine.value());
        bool ok = true;
        for (int i = 0; i < kRecords && ok; ++i) {
          if (i % 100 == 0) {
            LifecycleEvent e{EventType::worker_started, LogLevel::info, "event " + std::to_string(i), ""};
            ok = p.push_event(run.value(), e).ok();
          } else if (i % 7 == 0) {
            ok = p.push_stderr(run.value(), "err " + std::to_string(i) + "\n").ok();
          } else {
            ok = p.push_stdout(run.value(), "out " + std::to_string(i) + "\n").ok();
          }
          // Paced (at least 0.3 s in all) so that readers see it live many
          // times even when they are slow (a sanitizer build, a busy machine).
          if (i % 5 == 0) std::this_thread::sleep_for(1ms);
        }
        if (ok && finish) {
          LifecycleEvent e{EventType::step_completed, LogLevel::info, "done", ""};
          ok = p.push_event(run.value(), e).ok();
        }
        if (ok && run.value().close().ok()) code = 0;
      }
    }
  }
  ::_exit(code);
}

bool WaitForFile(const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Exists(path)) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

int Reap(pid_t& pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool Exited(pid_t& pid, int* code) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r != pid) return false;
  pid = -1;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

// durable.seq now: 0 while the writer has only made it; read again when a
// read meets its rewrite half done.
std::uint64_t Durable(const std::string& dir) {
  for (int i = 0; i < 1000; ++i) {
    auto s = ReadFile(dir + "/durable.seq");
    if (s && s->empty()) return 0;
    if (auto d = ReadDurableSeq(dir)) return *d;
  }
  ADD_FAILURE() << "durable.seq stays unreadable";
  return 0;
}

// The seqs of jsonl lines, from `"seq":N,`.
std::vector<std::uint64_t> Seqs(const std::string& jsonl) {
  std::vector<std::uint64_t> out;
  for (std::size_t at = 0; (at = jsonl.find("\"seq\":", at)) != std::string::npos; at += 6)
    out.push_back(std::strtoull(jsonl.c_str() + at + 6, nullptr, 10));
  return out;
}

std::size_t LinesInFiles(const std::string& dir) {
  std::size_t n = 0;
  for (const char* f : kChannelFiles) {
    auto s = ReadFile(dir + "/" + f);
    if (s) n += static_cast<std::size_t>(std::count(s->begin(), s->end(), '\n'));
  }
  return n;
}

// A child process with its stdout on a pipe we read as it comes.
struct Spawned {
  pid_t pid = -1;
  int out = -1;
};

Spawned Spawn(const std::vector<std::string>& argv) {
  Spawned s;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return s;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (::posix_spawn(&s.pid, args[0], &fa, nullptr, args.data(), environ) != 0) s.pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  s.out = p[0];
  ::fcntl(s.out, F_SETFL, ::fcntl(s.out, F_GETFL) | O_NONBLOCK);
  return s;
}

// Reads what is there; false at EOF.
bool Drain(int fd, std::string* into) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into->append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

// Kills and reaps a child the test started, unless the test reaped it.
struct ChildGuard {
  pid_t* pid;
  ~ChildGuard() {
    if (*pid > 0) {
      ::kill(*pid, SIGKILL);
      int st = 0;
      ::waitpid(*pid, &st, 0);
    }
  }
};

class ReplayLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(DurableHighWater(), nullptr);
    DurableHighWater()->store(0);
  }
  TempDir tmp_{"runlog-live"};
  std::string root() const { return tmp_ / "runs"; }
  std::string dir() const { return RunDir(root(), "live", "run"); }
};

TEST_F(ReplayLiveTest, ReadersNeverShowARecordPastDurable) {
  pid_t writer = StartWriter(root(), true);
  ChildGuard writer_guard{&writer};
  ASSERT_GT(writer, 0);
  ASSERT_TRUE(WaitForFile(dir() + "/meta.json", 30s));
  int code = -1, reads = 0, live_reads = 0, windows = 0;
  std::uint64_t best = 0;
  while (!Exited(writer, &code)) {
    const std::size_t lines_before = LinesInFiles(dir());
    const std::uint64_t durable_before = Durable(dir());
    // The library.
    io::LogReader reader;
    io::Source src;
    src.dir = dir();
    Status st = reader.open(src);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const bool live = reader.context().live;
    const io::Entry* e = nullptr;
    std::uint64_t max_seq = 0, n = 0;
    while ((st = reader.next(&e)).ok() && e) {
      max_seq = e->seq();
      ++n;
    }
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::uint64_t durable_after = DurableHighWater()->load();
    ASSERT_LE(max_seq, durable_after) << "the reader showed a record past durable.seq";
    ASSERT_EQ(n, max_seq) << "seqs 1..max, each once";
    if (live) ++live_reads;
    if (lines_before > durable_before) ++windows;
    best = std::max(best, max_seq);
    // The CLI, now and then.
    if (reads % 10 == 5) {  // not first: a process start is slow under a sanitizer
      ProcessResult r = RunProcess({RUNLOG_CLI_PATH, "replay", dir()}, 60s);
      const std::uint64_t d = DurableHighWater()->load();
      ASSERT_EQ(r.exit_code, 0) << r.err;
      for (std::uint64_t seq : Seqs(r.out)) ASSERT_LE(seq, d) << "runlog replay showed a record past durable.seq";
    }
    ++reads;
  }
  EXPECT_EQ(code, 0);
  EXPECT_GT(live_reads, 3) << "the writer was never seen live";
  EXPECT_GT(windows, 0) << "never saw records appended but not yet durable: the test proves nothing";
  // Closed: everything.
  io::LogReader reader;
  io::Source src;
  src.dir = dir();
  ASSERT_TRUE(reader.open(src).ok());
  EXPECT_FALSE(reader.context().live);
  const io::Entry* e = nullptr;
  std::uint64_t n = 0;
  while (reader.next(&e).ok() && e) ++n;
  EXPECT_EQ(n, static_cast<std::uint64_t>(kRecords) + 1);
  EXPECT_TRUE(reader.finished());
}

TEST_F(ReplayLiveTest, FollowPrintsEachDurableRecordOnceAndEndsWhenTheRunCloses) {
  pid_t writer = StartWriter(root(), true);
  ChildGuard writer_guard{&writer};
  ASSERT_GT(writer, 0);
  ASSERT_TRUE(WaitForFile(dir() + "/durable.seq", 30s));
  Spawned f = Spawn({RUNLOG_CLI_PATH, "replay", dir(), "--follow"});
  ChildGuard follow_guard{&f.pid};
  ASSERT_GT(f.pid, 0);
  std::string out;
  std::size_t checked = 0;
  const auto deadline = Clock::now() + 120s;
  bool open = true;
  while (open && Clock::now() < deadline) {
    open = Drain(f.out, &out);
    const std::size_t complete = out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1;
    if (complete > checked) {
      const std::uint64_t d = DurableHighWater()->load();  // read right after the lines arrived
      for (std::uint64_t seq : Seqs(out.substr(checked, complete - checked)))
        ASSERT_LE(seq, d) << "--follow showed a record past durable.seq";
      checked = complete;
    }
    std::this_thread::sleep_for(2ms);
  }
  int code = -1;
  const auto end_deadline = Clock::now() + 30s;
  while (!Exited(f.pid, &code) && Clock::now() < end_deadline) std::this_thread::sleep_for(5ms);
  if (code == -1) FAIL() << "--follow did not end after the run closed";
  ::close(f.out);
  EXPECT_EQ(Reap(writer), 0);
  EXPECT_EQ(code, 0);
  std::vector<std::uint64_t> seqs = Seqs(out);
  ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kRecords) + 1);
  for (std::size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
  EXPECT_NE(out.find("\"type\":\"step_completed\""), std::string::npos);
}

TEST_F(ReplayLiveTest, FollowEndsCleanlyOnCtrlC) {
  // A run that is not over (state running, no writer): --follow waits for more.
  pid_t writer = StartWriter(root(), false);
  ASSERT_EQ(Reap(writer), 0);
  Spawned f = Spawn({RUNLOG_CLI_PATH, "replay", dir(), "--follow", "--format", "text"});
  ChildGuard follow_guard{&f.pid};
  ASSERT_GT(f.pid, 0);
  std::string out;
  const auto deadline = Clock::now() + 30s;
  while (out.find("out 1499\n") == std::string::npos && Clock::now() < deadline) {
    Drain(f.out, &out);
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_NE(out.find("out 1499\n"), std::string::npos) << "follow did not print the run";
  std::this_thread::sleep_for(300ms);
  int code = -1;
  EXPECT_FALSE(Exited(f.pid, &code)) << "follow ended though the run is not over";
  ::kill(f.pid, SIGINT);
  const auto end_deadline = Clock::now() + 10s;
  while (!Exited(f.pid, &code) && Clock::now() < end_deadline) {
    Drain(f.out, &out);
    std::this_thread::sleep_for(5ms);
  }
  if (code == -1) FAIL() << "SIGINT did not end --follow";
  ::close(f.out);
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace runlog::testing
