// tests/io/reader_filter_test.cpp — ReadFilter on runs the real engine wrote:
// every filter alone and together, and `after` at every edge (0, beyond the
// end, a seq held by another channel, the last line, a file of one line),
// checked against reading everything and dropping; and that `after` finds
// its place by bisection (bytes read counted through the file-system seam).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/timefmt.h"
#include "io/reader.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"
#include "support/reader_support.h"

namespace runlog::testing {
namespace {

constexpr std::int64_t kT0 = 1763720220000;  // 2025-11-21T10:17:00.000Z

struct Got {
  std::uint64_t seq = 0;
  Channel channel = Channel::worker;
  std::string type, level, created;
};

std::string Unquote(std::string_view s) { return s.size() >= 2 ? std::string(s.substr(1, s.size() - 2)) : ""; }

Status ReadAll(const io::Source& src, std::vector<Got>* out, const io::ReadFilter& filter = {},
               const io::ReaderOptions& options = {}, std::shared_ptr<io::Fs> fs = nullptr) {
  io::ReaderOptions o = options;
  if (fs) o.fs = fs;
  io::LogReader reader(o);
  RUNLOG_RETURN_IF_ERROR(reader.open(src, filter));
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e) {
    out->push_back({e->seq(), e->channel(), Unquote(e->raw(io::Field::type)), Unquote(e->raw(io::Field::level)),
                    std::string(e->created_at())});
  }
  return st;
}

io::Source RunSource(const std::string& dir) {
  io::Source s;
  s.dir = dir;
  return s;
}

// A run written by one producer: record i (seq i+1) gets createdAt kT0 + i ms,
// its channel and event type/level from a fixed pseudo-random pattern.
struct Plan {
  std::vector<Channel> channel;
  std::vector<EventType> type;
  std::vector<LogLevel> level;
};

Plan WriteRun(Engine& engine, const runlog::Run& run, int records, std::uint64_t seed, std::size_t text_bytes = 40) {
  Producer p(engine);
  std::mt19937_64 rng(seed);
  Plan plan;
  for (int i = 0; i < records; ++i) {
    const std::int64_t at = kT0 + i;
    const unsigned pick = static_cast<unsigned>(rng() % 10);
    std::string text = std::to_string(i) + std::string(text_bytes, 'x') + "\n";
    if (pick < 5) {
      EXPECT_TRUE(p.push_stdout(run, text, at).ok());
      plan.channel.push_back(Channel::stdout_);
      plan.type.push_back(EventType::run_prepared);
      plan.level.push_back(LogLevel::debug);
    } else if (pick < 8) {
      EXPECT_TRUE(p.push_stderr(run, text, at).ok());
      plan.channel.push_back(Channel::stderr_);
      plan.type.push_back(EventType::run_prepared);
      plan.level.push_back(LogLevel::debug);
    } else {
      LifecycleEvent e;
      e.type = static_cast<EventType>(rng() % 9);
      e.level = static_cast<LogLevel>(rng() % 4);
      e.message = "event " + std::to_string(i);
      EXPECT_TRUE(p.push_event(run, e, at).ok());
      plan.channel.push_back(Channel::worker);
      plan.type.push_back(e.type);
      plan.level.push_back(e.level);
    }
  }
  return plan;
}

class ReaderFilterTest : public EngineTestBase, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    engine_ = OpenEngine(MakeOptions(Durability::none));
    ASSERT_NE(engine_, nullptr);
    runlog::Run run = OpenRun(*engine_, "t", "r");
    plan_ = WriteRun(*engine_, run, 600, 1);
    ASSERT_TRUE(run.close().ok());
    dir_ = run_dir("t", "r");
  }
  io::ReaderOptions Options() const { return GetParam() ? Tiny() : io::ReaderOptions{}; }

  // What the filter should keep, from the plan.
  std::vector<std::uint64_t> Expected(const io::ReadFilter& f) const {
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < plan_.channel.size(); ++i) {
      const std::uint64_t seq = i + 1;
      const Channel c = plan_.channel[i];
      if (seq <= f.after) continue;
      if (!(f.channels & io::channel_bit(c))) continue;
      if (f.types && (c != Channel::worker || !(f.types & (1u << static_cast<int>(plan_.type[i]))))) continue;
      if (f.levels && (c != Channel::worker || !(f.levels & (1u << static_cast<int>(plan_.level[i]))))) continue;
      const std::string created = iso_ms(kT0 + static_cast<std::int64_t>(i));
      if (!f.since.empty() && created < f.since) continue;
      if (!f.until.empty() && created > f.until) continue;
      out.push_back(seq);
      if (f.limit && out.size() == f.limit) break;
    }
    return out;
  }
  std::vector<std::uint64_t> Read(const io::ReadFilter& f) const {
    std::vector<Got> got;
    Status st = ReadAll(RunSource(dir_), &got, f, Options());
    EXPECT_TRUE(st.ok()) << st.to_string();
    std::vector<std::uint64_t> seqs;
    for (const Got& g : got) seqs.push_back(g.seq);
    return seqs;
  }

  std::unique_ptr<Engine> engine_;
  Plan plan_;
  std::string dir_;
};

TEST_P(ReaderFilterTest, NoFilterIsEverything) {
  io::ReadFilter f;
  EXPECT_EQ(Read(f), Expected(f));
  EXPECT_EQ(Read(f).size(), 600u);
}

TEST_P(ReaderFilterTest, Channels) {
  for (std::uint8_t mask = 1; mask < 8; ++mask) {
    io::ReadFilter f;
    f.channels = mask;
    EXPECT_EQ(Read(f), Expected(f)) << "mask " << int(mask);
  }
}

TEST_P(ReaderFilterTest, TypesKeepOnlyThoseLifecycleEntries) {
  io::ReadFilter f;
  f.types = 1u << static_cast<int>(EventType::worker_started) | 1u << static_cast<int>(EventType::step_failed);
  std::vector<std::uint64_t> got = Read(f);
  EXPECT_EQ(got, Expected(f));
  EXPECT_FALSE(got.empty());
  std::vector<Got> entries;
  ASSERT_TRUE(ReadAll(RunSource(dir_), &entries, f, Options()).ok());
  for (const Got& g : entries) {
    EXPECT_EQ(g.channel, Channel::worker);
    EXPECT_TRUE(g.type == "worker_started" || g.type == "step_failed") << g.type;
  }
}

TEST_P(ReaderFilterTest, Levels) {
  io::ReadFilter f;
  f.levels = 1u << static_cast<int>(LogLevel::warn) | 1u << static_cast<int>(LogLevel::error);
  std::vector<std::uint64_t> got = Read(f);
  EXPECT_EQ(got, Expected(f));
  EXPECT_FALSE(got.empty());
}

TEST_P(ReaderFilterTest, SinceAndUntilAreInclusive) {
  io::ReadFilter f;
  f.since = iso_ms(kT0 + 100);
  f.until = iso_ms(kT0 + 199);
  std::vector<std::uint64_t> got = Read(f);
  EXPECT_EQ(got, Expected(f));
  ASSERT_EQ(got.size(), 100u);
  EXPECT_EQ(got.front(), 101u);
  EXPECT_EQ(got.back(), 200u);
  io::ReadFilter only_since;
  only_since.since = iso_ms(kT0 + 590);
  EXPECT_EQ(Read(only_since), Expected(only_since));
  io::ReadFilter only_until;
  only_until.until = iso_ms(kT0 + 5);
  EXPECT_EQ(Read(only_until).size(), 6u);
}

TEST_P(ReaderFilterTest, Limit) {
  for (std::uint64_t limit : {1u, 7u, 599u, 600u, 1000u}) {
    io::ReadFilter f;
    f.limit = limit;
    EXPECT_EQ(Read(f), Expected(f)) << limit;
  }
  io::LogReader reader(Options());
  io::ReadFilter f;
  f.limit = 3;
  ASSERT_TRUE(reader.open(RunSource(dir_), f).ok());
  const io::Entry* e = nullptr;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader.next(&e).ok() && e);
  ASSERT_TRUE(reader.next(&e).ok());
  EXPECT_EQ(e, nullptr);
  EXPECT_TRUE(reader.limit_reached());
  EXPECT_TRUE(reader.finished());
}

TEST_P(ReaderFilterTest, AllTogether) {
  io::ReadFilter f;
  f.after = 50;
  f.channels = io::channel_bit(Channel::worker) | io::channel_bit(Channel::stderr_);
  f.levels = 0b1110;
  f.since = iso_ms(kT0 + 20);
  f.until = iso_ms(kT0 + 500);
  f.limit = 10;
  std::vector<std::uint64_t> got = Read(f);
  EXPECT_EQ(got, Expected(f));
  EXPECT_EQ(got.size(), 10u);
}

// Every after from 0 to past the end: the same as reading all and dropping.
TEST_P(ReaderFilterTest, AfterEveryValue) {
  for (std::uint64_t n = 0; n <= 602; ++n) {
    io::ReadFilter f;
    f.after = n;
    ASSERT_EQ(Read(f), Expected(f)) << "after " << n;
  }
}

TEST_P(ReaderFilterTest, AfterASeqHeldByAnotherChannel) {
  // Find seqs N such that N is in stdout and N+1 in worker: each other file
  // must start after N though N lies between two of its lines.
  int tried = 0;
  for (std::size_t i = 1; i + 1 < plan_.channel.size() && tried < 5; ++i) {
    if (plan_.channel[i] == Channel::stdout_ && plan_.channel[i + 1] == Channel::worker) {
      io::ReadFilter f;
      f.after = i + 1;
      std::vector<std::uint64_t> got = Read(f);
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got.front(), i + 2);
      EXPECT_EQ(got, Expected(f));
      ++tried;
    }
  }
  EXPECT_GT(tried, 0);
}

INSTANTIATE_TEST_SUITE_P(Buffers, ReaderFilterTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Tiny" : "Default"; });

class ReaderAfterTest : public EngineTestBase {};

TEST_F(ReaderAfterTest, AfterInAFileOfOneLine) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "one");
  {
    Producer p(*engine);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.push_stdout(run, "out\n").ok());
    LifecycleEvent e{EventType::worker_started, LogLevel::info, "started", ""};
    ASSERT_TRUE(p.push_event(run, e).ok());  // seq 11: worker.jsonl's one line
    ASSERT_TRUE(p.push_stderr(run, "err\n").ok());  // seq 12: stderr.jsonl's one line
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("t", "one");
  for (std::uint64_t n = 0; n <= 13; ++n) {
    io::ReadFilter f;
    f.after = n;
    std::vector<Got> got;
    ASSERT_TRUE(ReadAll(RunSource(dir), &got, f).ok());
    ASSERT_EQ(got.size(), n >= 12 ? 0u : 12 - n) << n;
    if (!got.empty()) {
      EXPECT_EQ(got.front().seq, n + 1);
    }
    // The one-line files read alone.
    for (const char* file : {"worker.jsonl", "stderr.jsonl"}) {
      io::Source s;
      s.kind = io::SourceKind::file;
      s.dir = dir;
      s.file = file;
      std::vector<Got> one;
      ASSERT_TRUE(ReadAll(s, &one, f).ok());
      const std::uint64_t seq = std::string(file) == "worker.jsonl" ? 11 : 12;
      EXPECT_EQ(one.size(), n < seq ? 1u : 0u) << file << " after " << n;
    }
  }
}

// ------------------------------------------------------------- bisection

// A file system that counts the bytes read through it.
class CountingFile final : public io::File {
 public:
  CountingFile(std::unique_ptr<io::File> f, std::atomic<std::uint64_t>* n) : f_(std::move(f)), n_(n) {}
  Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    return f_->pwritev(iov, iovcnt, offset);
  }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    Status st = f_->pread(buf, n, offset, got);
    n_->fetch_add(*got);
    return st;
  }
  Status datasync() override { return f_->datasync(); }
  Status truncate(std::uint64_t size) override { return f_->truncate(size); }
  Result<std::uint64_t> size() override { return f_->size(); }
  const std::string& path() const override { return f_->path(); }
  Result<bool> locked_by_other() override { return f_->locked_by_other(); }

 private:
  std::unique_ptr<io::File> f_;
  std::atomic<std::uint64_t>* n_;
};

class CountingDir final : public io::Dir {
 public:
  CountingDir(std::unique_ptr<io::Dir> d, std::atomic<std::uint64_t>* n) : d_(std::move(d)), n_(n) {}
  Result<std::unique_ptr<io::Dir>> open_dir(std::string_view name, bool create, mode_t mode, bool* created) override {
    std::unique_ptr<io::Dir> d;
    RUNLOG_RETURN_IF_ERROR(d_->open_dir(name, create, mode, created).get(d));
    return std::unique_ptr<io::Dir>(new CountingDir(std::move(d), n_));
  }
  Result<std::unique_ptr<io::File>> open_file(std::string_view name, io::OpenMode mode, mode_t perm,
                                              bool* created) override {
    std::unique_ptr<io::File> f;
    RUNLOG_RETURN_IF_ERROR(d_->open_file(name, mode, perm, created).get(f));
    return std::unique_ptr<io::File>(new CountingFile(std::move(f), n_));
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
  std::atomic<std::uint64_t>* n_;
};

class CountingFs final : public io::Fs {
 public:
  Result<std::unique_ptr<io::Dir>> open_root(const std::string& path, bool create, mode_t mode) override {
    std::unique_ptr<io::Dir> d;
    RUNLOG_RETURN_IF_ERROR(io::posix_fs()->open_root(path, create, mode).get(d));
    return std::unique_ptr<io::Dir>(new CountingDir(std::move(d), &bytes));
  }
  std::atomic<std::uint64_t> bytes{0};
};

// On a run of some megabytes: the first entry after N is N+1 for N all over
// the run, and finding it reads a small fraction of the files.
// Opens `source` with `after` = N for N at both ends of 1..last, its middle and
// 40 seeded places; the first entry must satisfy `check` (none past the end),
// and each open may read under 512 KiB of a `total`-byte source (bisection
// windows, the last linear read, one first read per file).
template <class Check>
void ForEachAfter(const io::Source& source, std::uint64_t last, std::uint64_t seed, std::uint64_t total, Check check) {
  auto fs = std::make_shared<CountingFs>();
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> ns = {1, 2, last - 2, last - 1, last, last + 1, last / 2};
  for (int i = 0; i < 40; ++i) ns.push_back(1 + rng() % last);
  for (std::uint64_t n : ns) {
    fs->bytes = 0;
    io::ReaderOptions o;
    o.fs = fs;
    io::LogReader reader(o);
    io::ReadFilter f;
    f.after = n;
    ASSERT_TRUE(reader.open(source, f).ok());
    const io::Entry* e = nullptr;
    ASSERT_TRUE(reader.next(&e).ok());
    if (n >= last) {
      EXPECT_EQ(e, nullptr) << n;
    } else {
      check(n, e);
    }
    EXPECT_LT(fs->bytes.load(), 512u << 10) << "after " << n << " read " << fs->bytes.load() << " of " << total;
  }
}

TEST_F(ReaderAfterTest, AfterFindsItsPlaceByBisection) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "big");
  Plan plan = WriteRun(*engine, run, 60000, 9, 150);
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("t", "big");
  std::uint64_t total = 0;
  for (const char* f : kChannelFiles) total += ReadFile(dir + "/" + f)->size();
  ASSERT_GT(total, 8u << 20);

  ForEachAfter(RunSource(dir), 60000, 3, total, [&](std::uint64_t n, const io::Entry* e) {
    ASSERT_NE(e, nullptr) << n;
    EXPECT_EQ(e->seq(), n + 1);
    EXPECT_EQ(e->channel(), plan.channel[n]);
  });
}

// A conversation is one more source kind: the first chunk after N is N+1
// (its role and chunk as pushed) for N all over a conversation of some
// megabytes, found by the same bisection: a small fraction of the file is read.
TEST_F(ReaderAfterTest, ConversationAfterFindsItsPlaceByBisection) {
  Options o = MakeOptions(Durability::none);
  o.conversationsRoot = tmp() + "/convs";
  auto engine = OpenEngine(o);
  constexpr std::uint64_t kChunks = 60000;
  auto chunk_of = [](std::uint64_t seq) {
    return R"({"type":"text","text":"chunk )" + std::to_string(seq) + " " + std::string(seq % 200, 'x') + "\"}";
  };
  auto role_of = [](std::uint64_t seq) { return seq % 3 == 0 ? Role::user : Role::assistant; };
  {
    auto conv = engine->open_conversation("big");
    ASSERT_TRUE(conv.ok()) << conv.status().to_string();
    Producer p(*engine);
    for (std::uint64_t seq = 1; seq <= kChunks; ++seq)
      ASSERT_TRUE(p.push_chunk(conv.value(), role_of(seq), chunk_of(seq)).ok());
    ASSERT_TRUE(conv.value().flush().ok());
    ASSERT_TRUE(conv.value().close().ok());
  }
  const std::string dir = tmp() + "/convs/big";
  const std::uint64_t total = ReadFile(dir + "/chunks.jsonl")->size();
  ASSERT_GT(total, 8u << 20);
  auto sources = io::find_sources(dir);
  ASSERT_TRUE(sources.ok()) << sources.status().to_string();
  ASSERT_EQ(sources->size(), 1u);
  EXPECT_EQ(sources->front().kind, io::SourceKind::conversation);
  EXPECT_TRUE(io::is_conversation_dir(dir));

  ForEachAfter(io::conversation_source(dir), kChunks, 5, total, [&](std::uint64_t n, const io::Entry* e) {
    ASSERT_NE(e, nullptr) << n;
    EXPECT_EQ(e->seq(), n + 1);
    ASSERT_TRUE(e->is_chunk());
    EXPECT_EQ(e->role(), role_of(n + 1) == Role::user ? "user" : "assistant");
    EXPECT_EQ(e->chunk(), chunk_of(n + 1));
    std::string stored;
    io::append_stored(*e, &stored);
    EXPECT_EQ(stored, "{\"seq\":" + std::to_string(n + 1) + ",\"role\":\"" + std::string(e->role()) +
                          "\",\"chunk\":" + chunk_of(n + 1) + "}\n");
  });
  // Read whole, the chunks are 1..N in order and nothing is noted.
  io::LogReader reader;
  ASSERT_TRUE(reader.open(io::conversation_source(dir)).ok());
  std::uint64_t expect = 1;
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e != nullptr) ASSERT_EQ(e->seq(), expect++);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(expect, kChunks + 1);
  EXPECT_TRUE(reader.notes().empty());
}

}  // namespace
}  // namespace runlog::testing
