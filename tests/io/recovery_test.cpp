// tests/io/recovery_test.cpp — the recovery scanner and open_run_dir() over
// damaged runs: torn tails, holes, corruption, state rebuild, idempotence.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "core/crc32c.h"
#include "io/fs.h"
#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

constexpr const char* kAt = "2026-11-21T10:17:00.123Z";

// body + `,"crc":"xxxxxxxx"}\n`
std::string WithCrc(std::string body) {
  char hex[8];
  crc32c_hex(crc32c(body.data(), body.size()), hex);
  body += ",\"crc\":\"";
  body.append(hex, 8);
  body += "\"}\n";
  return body;
}

std::string Chunk(std::uint64_t seq, std::string_view channel, std::string_view text) {
  return WithCrc("{\"seq\":" + std::to_string(seq) + ",\"channel\":\"" + std::string(channel) +
                 "\",\"createdAt\":\"" + kAt + "\",\"text\":\"" + std::string(text) + "\"");
}
std::string Out(std::uint64_t seq, std::string_view text = "hello world") { return Chunk(seq, "stdout", text); }
std::string Err(std::uint64_t seq, std::string_view text = "oops") { return Chunk(seq, "stderr", text); }
std::string Event(std::uint64_t seq, std::string_view type, std::string_view created_at = kAt,
                  std::string_view data = "{}") {
  return WithCrc("{\"seq\":" + std::to_string(seq) + ",\"channel\":\"worker\",\"eventId\":\"e" +
                 std::to_string(seq) + "\",\"type\":\"" + std::string(type) + "\",\"level\":\"info\",\"createdAt\":\"" +
                 std::string(created_at) + "\",\"message\":\"m\",\"data\":" + std::string(data) +
                 ",\"renderedLine\":\"r\"");
}

template <class... S>
std::string Cat(const S&... s) {
  return (std::string() + ... + s);
}

// ---------------------------------------------------------------------------
// The pure scanner, over byte strings.

Result<RecoveryPlan> Plan(std::vector<std::string> files, std::size_t chunk = kScanChunkBytes) {
  std::vector<std::string_view> views(files.begin(), files.end());
  return plan_recovery_bytes(views, chunk);
}

TEST(CheckLine, Verdicts) {
  EXPECT_TRUE(check_line(Out(1)).valid);
  EXPECT_EQ(check_line(Out(7)).seq, 7u);
  EXPECT_TRUE(check_line(WithCrc("{\"seq\":18446744073709551615,\"x\":1")).valid);
  EXPECT_STREQ(check_line(WithCrc("{\"seq\":18446744073709551616,\"x\":1")).what, "bad seq");
  EXPECT_STREQ(check_line(WithCrc("{\"seq\":0,\"x\":1")).what, "bad seq");
  EXPECT_STREQ(check_line(WithCrc("{\"seq\":01,\"x\":1")).what, "bad seq");
  EXPECT_STREQ(check_line(WithCrc("{\"seq\":123456789012345678901,\"x\":1")).what, "bad seq");
  EXPECT_STREQ(check_line(WithCrc("{\"seq\":-1,\"x\":1")).what, "not a record");
  EXPECT_STREQ(check_line(WithCrc("{\"sequence\":1,\"x\":1")).what, "not a record");
  EXPECT_STREQ(check_line(WithCrc(" {\"seq\":1,\"x\":1")).what, "not a record");
  EXPECT_STREQ(check_line("{\"seq\":1,\"x\":1}\n").what, "no crc");
  std::string upper = Out(1);
  for (std::size_t i = upper.size() - 11; i < upper.size() - 3; ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  if (upper != Out(1)) {
    EXPECT_STREQ(check_line(upper).what, "no crc");
  }
  std::string bad = Out(1);
  bad[20] ^= 1;
  EXPECT_STREQ(check_line(bad).what, "bad crc");
  std::string no_nl = Out(1);
  no_nl.pop_back();
  EXPECT_STREQ(check_line(no_nl).what, "no final newline");
  EXPECT_FALSE(check_line("\n").valid);
  EXPECT_FALSE(check_line("").valid);
  EXPECT_FALSE(check_line(Out(1) + Out(2)).valid);
}

TEST(PlanRecovery, CleanStreamAcrossChannels) {
  RecoveryPlan p;
  ASSERT_TRUE(Plan({Event(1, "worker_started"), Cat(Out(2), Out(4)), Err(3)}).get(p).ok());
  EXPECT_EQ(p.last_seq, 4u);
  ASSERT_EQ(p.channels.size(), 3u);
  EXPECT_EQ(p.channels[0].records, 1u);
  EXPECT_EQ(p.channels[1].records, 2u);
  EXPECT_EQ(p.channels[2].records, 1u);
  for (auto& c : p.channels) {
    EXPECT_EQ(c.keep, c.size);
    EXPECT_EQ(c.reason, CutReason::none);
  }
}

TEST(PlanRecovery, EmptyFiles) {
  RecoveryPlan p;
  ASSERT_TRUE(Plan({"", "", ""}).get(p).ok());
  EXPECT_EQ(p.last_seq, 0u);
  ASSERT_TRUE(Plan({}).get(p).ok());
  EXPECT_EQ(p.last_seq, 0u);
}

TEST(PlanRecovery, StreamStartingPastOneIsAHoleAtOne) {
  RecoveryPlan p;
  ASSERT_TRUE(Plan({Cat(Out(2), Out(3))}).get(p).ok());
  EXPECT_EQ(p.last_seq, 0u);
  EXPECT_EQ(p.channels[0].keep, 0u);
  EXPECT_EQ(p.channels[0].reason, CutReason::past_hole);
}

// Every cut of every line, every chunk size from 1 up: the plan keeps the
// whole records before the cut.
TEST(PlanRecovery, EveryCutOfEveryLineAtSeveralChunkSizes) {
  const std::string full = Cat(Out(1), Out(2, "a\\\"b"), Out(3, std::string(40, 'x')), Out(4, ""));
  std::vector<std::uint64_t> ends;
  for (std::size_t pos = full.find('\n'); pos != std::string::npos; pos = full.find('\n', pos + 1)) ends.push_back(pos + 1);
  for (std::size_t chunk : {1, 2, 7, 19, 64, 4096}) {
    for (std::size_t cut = 0; cut <= full.size(); ++cut) {
      RecoveryPlan p;
      ASSERT_TRUE(Plan({full.substr(0, cut)}, chunk).get(p).ok()) << cut;
      std::uint64_t n = 0, keep = 0;
      while (n < ends.size() && ends[n] <= cut) keep = ends[n++];
      EXPECT_EQ(p.last_seq, n) << "cut " << cut << " chunk " << chunk;
      EXPECT_EQ(p.channels[0].keep, keep) << "cut " << cut << " chunk " << chunk;
      EXPECT_EQ(p.channels[0].size, cut);
      EXPECT_EQ(p.channels[0].reason, keep < cut ? CutReason::torn_tail : CutReason::none);
    }
  }
}

// One flipped bit anywhere in a record that is not the last: corruption
// naming the file and the offset of the damaged line.
TEST(PlanRecovery, EveryBitFlipInAMiddleRecordIsCorruptionAtItsOffset) {
  const std::string a = Out(1), b = Out(2, "J\\tJ"), c = Out(3);
  const std::string full = Cat(a, b, c);
  const std::string at = "file0:" + std::to_string(a.size()) + ":";
  for (std::size_t i = a.size(); i < a.size() + b.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = full;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      Status st = Plan({damaged}, 16).status();
      ASSERT_EQ(st.code(), Errc::corruption) << "byte " << i << " bit " << bit;
      EXPECT_EQ(st.message().rfind(at, 0), 0u) << st.message();
    }
  }
}

// The '\n' of the record before the last damaged: the last two run together
// into one line that ends like a record. The valid record hidden in it must
// still be found (else both would be cut as a "torn tail"), also when its
// start is far into the line, past chunk boundaries, and when `{"seq":`
// appears inside a worker event's data.
TEST(PlanRecovery, RecordHiddenBehindADamagedNewlineIsFound) {
  const std::string a = Out(1);
  const std::vector<std::string> middles = {
      Out(2), Out(2, std::string(5000, 'm')),
      Event(2, "worker_exited", kAt, "{\"seq\":1,\"inner\":{\"seq\":22,\"x\":1},\"exitCode\":0}")};
  const std::vector<std::string> lasts = {Out(3), Out(3, std::string(7000, 'l')),
                                          Event(3, "step_completed", kAt, "{\"seq\":5,\"y\":{\"seq\":6,\"z\":2}}")};
  for (const std::string& b : middles) {
    for (const std::string& c : lasts) {
      for (std::size_t chunk : {1, 7, 64, 4096, 1 << 20}) {
        std::string damaged = Cat(a, b, c);
        damaged[a.size() + b.size() - 1] ^= 0x20;  // b's '\n' becomes '*'
        Status st = Plan({damaged}, chunk).status();
        ASSERT_EQ(st.code(), Errc::corruption) << "chunk " << chunk;
        EXPECT_EQ(st.message(), "file0:" + std::to_string(a.size()) + ": bad crc, with valid records after it (seq 3 at offset " +
                                    std::to_string(a.size() + b.size()) + ")");
      }
    }
  }
}

// What a crash may leave: zeros over the end of one record and the start of
// the next (unsynced pages). No whole record survives after the damage:
// a torn tail. Zeros over the '\n' alone leave the next record whole: that is
// damage with a valid record after it.
TEST(PlanRecovery, ZeroedSpanAcrossTwoRecordsIsATornTail) {
  const std::string a = Out(1), b = Out(2, "second"), c = Out(3, "third");
  std::string s = Cat(a, b, c);
  for (std::size_t i = a.size() + b.size() - 10; i < a.size() + b.size() + 10; ++i) s[i] = '\0';
  RecoveryPlan p;
  ASSERT_TRUE(Plan({s}, 8).get(p).ok());
  EXPECT_EQ(p.last_seq, 1u);
  EXPECT_EQ(p.channels[0].keep, a.size());
  s = Cat(a, b, c);
  s[a.size() + b.size() - 1] = '\0';
  EXPECT_EQ(Plan({s}, 8).status().code(), Errc::corruption);
}

TEST(PlanRecovery, OverwrittenBytesInAMiddleRecordAreDetected) {
  std::mt19937_64 rng(42);
  const std::string a = Out(1), b = Out(2, std::string(200, 'q')), c = Out(3);
  const std::string full = Cat(a, b, c);
  for (int round = 0; round < 500; ++round) {
    std::size_t len = 1 + rng() % 64;
    std::size_t start = a.size() + rng() % (b.size() - len);
    std::string damaged = full;
    for (std::size_t i = 0; i < len; ++i) damaged[start + i] = static_cast<char>(rng());
    if (damaged == full) continue;
    Status st = Plan({damaged}).status();
    ASSERT_EQ(st.code(), Errc::corruption) << round;
    EXPECT_EQ(st.message().rfind("file0:" + std::to_string(a.size()) + ":", 0), 0u) << st.message();
  }
}

TEST(PlanRecovery, RepeatedOrDecreasingSeqIsCorruption) {
  const std::string a = Out(1), b = Out(2);
  Status st = Plan({Cat(a, b, Out(2))}).status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("file0:" + std::to_string(a.size() + b.size()) + ": seq 2 repeats"), std::string::npos)
      << st.message();
  st = Plan({Cat(a, Out(3), Out(2))}).status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("seq 2 after seq 3"), std::string::npos) << st.message();
  // Past the gap-free prefix too: it is still damage inside one file.
  st = Plan({Cat(a, Out(5), Out(4))}).status();
  EXPECT_EQ(st.code(), Errc::corruption);
  // The same seq in two files.
  st = Plan({Cat(a, b), Err(2)}).status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("file1:0: seq 2 repeats (also in file0"), std::string::npos) << st.message();
}

TEST(PlanRecovery, HoleAcrossChannels) {
  RecoveryPlan p;
  // stdout 1,2,4 + stderr 3: complete.
  ASSERT_TRUE(Plan({"", Cat(Out(1), Out(2), Out(4)), Err(3)}).get(p).ok());
  EXPECT_EQ(p.last_seq, 4u);
  // stdout 1,2,5 + stderr 3: N = 3, stdout's 5 is past the hole at 4.
  const std::string kept = Cat(Out(1), Out(2));
  ASSERT_TRUE(Plan({"", Cat(kept, Out(5)), Err(3)}).get(p).ok());
  EXPECT_EQ(p.last_seq, 3u);
  EXPECT_EQ(p.channels[1].keep, kept.size());
  EXPECT_EQ(p.channels[1].reason, CutReason::past_hole);
  EXPECT_EQ(p.channels[1].records, 2u);
  EXPECT_EQ(p.channels[2].reason, CutReason::none);
  EXPECT_EQ(describe_cut("stdout.jsonl", p.channels[1], p.last_seq),
            "stdout.jsonl: cut " + std::to_string(Out(5).size()) + " bytes at offset " + std::to_string(kept.size()) +
                " (past a hole at seq 4)");
}

TEST(PlanRecovery, DamageBeforeAValidLineInTheTailIsCorruption) {
  const std::string a = Out(1);
  // Zeros, then a valid line: not a torn tail.
  Status st = Plan({Cat(a, std::string(10, '\0'), "\n", Out(2))}).status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("file0:" + std::to_string(a.size()) + ": not a record, with valid records after it"),
            std::string::npos)
      << st.message();
  // Garbage lines with no valid line after them are a torn tail.
  RecoveryPlan p;
  ASSERT_TRUE(Plan({Cat(a, "garbage\n", "more\n", "{\"seq\":2,")}).get(p).ok());
  EXPECT_EQ(p.last_seq, 1u);
  EXPECT_EQ(p.channels[0].keep, a.size());
  EXPECT_EQ(p.channels[0].reason, CutReason::torn_tail);
  EXPECT_STREQ(p.channels[0].torn_what, "not a record");
}

TEST(PlanRecovery, VisitorSeesRecordsInSeqOrderAndCanFail) {
  std::vector<std::pair<std::size_t, std::uint64_t>> seen;
  std::string w = Event(1, "worker_started"), o = Cat(Out(2), Out(4)), e = Err(3);
  std::vector<std::string> contents = {w, o, e};
  std::vector<std::unique_ptr<File>> keep;
  // Go through plan_recovery with a visitor over real-ish files: reuse the bytes API's shape.
  class Mem final : public File {
   public:
    explicit Mem(std::string s) : s_(std::move(s)) {}
    Status pwritev(const struct iovec*, int, std::uint64_t) override { return Status::Invalid("ro"); }
    Status pread(void* buf, std::size_t n, std::uint64_t off, std::size_t* got) override {
      *got = off >= s_.size() ? 0 : std::min<std::size_t>(n, s_.size() - off);
      if (*got) std::memcpy(buf, s_.data() + off, *got);
      return Status::OK();
    }
    Status datasync() override { return Status::OK(); }
    Status truncate(std::uint64_t) override { return Status::OK(); }
    Result<std::uint64_t> size() override { return static_cast<std::uint64_t>(s_.size()); }
    const std::string& path() const override { return name_; }

   private:
    std::string s_;
    std::string name_ = "mem";
  };
  std::vector<File*> files;
  for (auto& c : contents) {
    keep.push_back(std::make_unique<Mem>(c));
    files.push_back(keep.back().get());
  }
  RecoveryPlan p;
  ASSERT_TRUE(plan_recovery(files, 0, [&](std::size_t i, const ScannedRecord& r) {
                seen.emplace_back(i, r.seq);
                return Status::OK();
              }).get(p).ok());
  EXPECT_EQ(seen, (std::vector<std::pair<std::size_t, std::uint64_t>>{{0, 1}, {1, 2}, {2, 3}, {1, 4}}));
  Status st = plan_recovery(files, 0, [&](std::size_t, const ScannedRecord& r) {
                return r.seq == 3 ? Status::Invalid("stop") : Status::OK();
              }).status();
  EXPECT_EQ(st.code(), Errc::invalid_argument);
}

TEST(LifecycleReplay, AppliesSpecTransitions) {
  LifecycleReplay replay;
  RunStateSnapshot s;
  s.startedAt = s.updatedAt = "2026-11-21T10:00:00.000Z";
  ASSERT_TRUE(replay.apply(Event(1, "worker_started", "2026-11-21T10:00:01.000Z"), &s).ok());
  EXPECT_EQ(s.status, RunStatus::running);
  ASSERT_TRUE(replay.apply(Event(2, "checkpoint_slot_reserved"), &s).ok());
  ASSERT_TRUE(replay.apply(Event(3, "checkpoint_slot_reserved"), &s).ok());
  EXPECT_EQ(s.checkpointSeq, 2u);
  ASSERT_TRUE(replay.apply(Event(4, "worker_exited", kAt, "{\"exitCode\":\"x\"}"), &s).ok());
  EXPECT_FALSE(s.exitCode.has_value());
  ASSERT_TRUE(replay.apply(Event(5, "worker_exited", kAt, "{\"signal\":null,\"exitCode\":3}"), &s).ok());
  EXPECT_EQ(s.exitCode, 3);
  ASSERT_TRUE(replay.apply(Event(6, "step_blocked", "2026-11-21T10:00:09.000Z"), &s).ok());
  EXPECT_EQ(s.status, RunStatus::blocked);
  EXPECT_EQ(s.finishedAt, "2026-11-21T10:00:09.000Z");
  ASSERT_TRUE(replay.apply(Event(7, "some_future_event", "2026-11-21T10:00:10.000Z"), &s).ok());
  EXPECT_EQ(s.status, RunStatus::blocked);
  EXPECT_EQ(s.updatedAt, "2026-11-21T10:00:10.000Z");
  EXPECT_EQ(s.lastEventSeq, 7u);
  RunStateSnapshot before = s;
  EXPECT_EQ(replay.apply("{\"seq\":8,\"type\":1}", &s).code(), Errc::invalid_argument);
  EXPECT_EQ(replay.apply("nope", &s).code(), Errc::invalid_argument);
  EXPECT_EQ(s.lastEventSeq, before.lastEventSeq);
}

// ---------------------------------------------------------------------------
// open_run_dir() over real, damaged files.

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runlog-recovery-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(posix_fs()->open_root(tmp_ + "/runs", true, 0700).get(root_).ok());
    meta_.taskId = "t1";
    meta_.runId = "r1";
    meta_.stepId = "s1";
    meta_.stepName = "step";
    meta_.workerKind = "codex";
    meta_.attempt = 1;
    meta_.createdAt = "2026-11-21T10:00:00.000Z";
    meta_.checkpointMode = "none";
    RecoveredRun r;
    ASSERT_TRUE(Reopen().get(r).ok());
    ASSERT_TRUE(r.created);
    files_.close();
  }
  void TearDown() override {
    files_.close();
    root_.reset();
    std::filesystem::remove_all(tmp_);
  }

  // --- helper verbs
  std::string Path(const std::string& file) const { return tmp_ + "/runs/t1/r1/" + file; }
  void AppendBytes(const std::string& file, const std::string& bytes) {
    std::ofstream(Path(file), std::ios::binary | std::ios::app) << bytes;
  }
  template <class... S>
  void WriteLines(const std::string& file, const S&... lines) {
    AppendBytes(file, Cat(lines...));
  }
  void Overwrite(const std::string& file, const std::string& bytes) {
    std::ofstream(Path(file), std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string Read(const std::string& file) const {
    std::ifstream in(Path(file), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void Corrupt(const std::string& file, std::uint64_t offset, int bit = 0) {
    std::string s = Read(file);
    ASSERT_LT(offset, s.size());
    s[offset] = static_cast<char>(s[offset] ^ (1 << bit));
    Overwrite(file, s);
  }
  void Truncate(const std::string& file, std::uint64_t size) {
    ASSERT_EQ(::truncate(Path(file).c_str(), static_cast<off_t>(size)), 0);
  }
  Result<RecoveredRun> Reopen() {
    files_.close();
    return open_run_dir(*root_, meta_, {}, &files_);
  }
  // Every file of the run folder, for "unchanged" / "identical" checks.
  std::vector<std::string> Snapshot() const {
    std::vector<std::string> all;
    for (const char* f : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl", "durable.seq", "meta.json", "state.json"})
      all.push_back(Read(f));
    return all;
  }
  RecoveredRun MustReopen() {
    RecoveredRun r;
    Status st = Reopen().get(r);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return r;
  }

  std::string tmp_;
  std::unique_ptr<Dir> root_;
  RunMetadata meta_;
  RunFiles files_;
};

TEST_F(RecoveryTest, ReopenCleanRun) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  WriteLines("stdout.jsonl", Out(2), Out(3));
  WriteLines("stderr.jsonl", Err(4));
  RecoveredRun r = MustReopen();
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.last_seq, 4u);
  EXPECT_EQ(r.sizes[0], Event(1, "worker_started").size());
  EXPECT_EQ(r.sizes[1], Cat(Out(2), Out(3)).size());
  EXPECT_EQ(r.sizes[2], Err(4).size());
  EXPECT_EQ(r.summary.totalEntries, 4u);
  EXPECT_EQ(r.summary.lastSeq, 4u);
  EXPECT_EQ(r.summary.lifecycleEventCount, 1u);
  EXPECT_EQ(r.summary.stdoutChunkCount, 2u);
  EXPECT_EQ(r.summary.stderrChunkCount, 1u);
  EXPECT_TRUE(r.repairs.empty());
  EXPECT_EQ(Read("durable.seq"), "00000000000000000004\n");
  EXPECT_EQ(r.state.status, RunStatus::running);
  EXPECT_EQ(r.state.lastEventSeq, 4u);
}

// For the last two records, a cut at every byte: recovered to the last whole
// record, the file cut there, and the next open finds nothing to do.
TEST_F(RecoveryTest, CutAtEveryByteOfTheLastTwoRecords) {
  const std::string w = Event(1, "worker_started");
  const std::string head = Cat(Out(2), Out(3, "three"));
  const std::string r4 = Out(4, "four"), r5 = Out(5, "five five");
  const std::string full = Cat(head, r4, r5);
  WriteLines("worker.jsonl", w);
  for (std::size_t cut = head.size(); cut <= full.size(); ++cut) {
    Overwrite("stdout.jsonl", full.substr(0, cut));
    RecoveredRun r = MustReopen();
    std::uint64_t n = cut == full.size() ? 5 : cut >= head.size() + r4.size() ? 4 : 3;
    std::size_t keep = n == 5 ? full.size() : n == 4 ? head.size() + r4.size() : head.size();
    ASSERT_EQ(r.last_seq, n) << "cut " << cut;
    EXPECT_EQ(r.sizes[1], keep);
    EXPECT_EQ(Read("stdout.jsonl"), full.substr(0, keep));
    EXPECT_EQ(Read("durable.seq"), "0000000000000000000" + std::to_string(n) + "\n");
    EXPECT_EQ(r.repairs.size(), keep < cut ? 1u : 0u) << "cut " << cut;
    if (keep < cut) {
      EXPECT_EQ(r.repairs[0], "stdout.jsonl: cut " + std::to_string(cut - keep) + " bytes at offset " +
                                  std::to_string(keep) + " (torn tail)");
    }
  }
}

TEST_F(RecoveryTest, AppendedZerosAndRandomBytesAreCut) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  const std::string out = Cat(Out(2), Out(3));
  WriteLines("stdout.jsonl", out);
  WriteLines("stderr.jsonl", Err(4));
  ASSERT_EQ(MustReopen().last_seq, 4u);
  const std::vector<std::string> before = Snapshot();
  std::mt19937_64 rng(7);
  std::vector<std::size_t> lengths = {1, 2, 3, 7, 19, 20, 100, 511, 4095, 4096};
  for (int i = 0; i < 10; ++i) lengths.push_back(1 + rng() % 4096);
  for (std::size_t len : lengths) {
    for (int kind = 0; kind < 2; ++kind) {
      std::string junk(len, '\0');
      if (kind == 1)
        for (auto& ch : junk) ch = static_cast<char>(rng());
      const std::string file = len % 2 ? "stdout.jsonl" : "stderr.jsonl";
      AppendBytes(file, junk);
      RecoveredRun r = MustReopen();
      ASSERT_EQ(r.last_seq, 4u) << len << " kind " << kind;
      ASSERT_EQ(r.repairs.size(), 1u);
      EXPECT_NE(r.repairs[0].find(file + ": cut " + std::to_string(len) + " bytes"), std::string::npos)
          << r.repairs[0];
      EXPECT_EQ(Snapshot(), before) << len << " kind " << kind;
    }
  }
}

TEST_F(RecoveryTest, HoleAcrossChannelsCutsWhatLiesPastIt) {
  const std::string kept = Cat(Out(1), Out(2));
  WriteLines("stdout.jsonl", kept, Out(5));
  WriteLines("stderr.jsonl", Err(3));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 3u);
  EXPECT_EQ(Read("stdout.jsonl"), kept);
  ASSERT_EQ(r.repairs.size(), 1u);
  EXPECT_EQ(r.repairs[0], "stdout.jsonl: cut " + std::to_string(Out(5).size()) + " bytes at offset " +
                              std::to_string(kept.size()) + " (past a hole at seq 4)");
  EXPECT_EQ(r.summary.stdoutChunkCount, 2u);
  EXPECT_EQ(r.summary.stderrChunkCount, 1u);
  // stdout 1,2,4 with stderr 3 has no hole.
  WriteLines("stdout.jsonl", Out(4));
  r = MustReopen();
  EXPECT_EQ(r.last_seq, 4u);
  EXPECT_TRUE(r.repairs.empty());
}

TEST_F(RecoveryTest, TornRecordMakesAHoleForTheOtherChannels) {
  // stderr's seq 3 was torn; stdout's 4 and 5 were written: both cut.
  const std::string e3 = Err(3);
  WriteLines("stdout.jsonl", Out(1), Out(2));
  const std::string out_kept = Read("stdout.jsonl");
  WriteLines("stdout.jsonl", Out(4), Out(5));
  WriteLines("stderr.jsonl", e3.substr(0, e3.size() / 2));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 2u);
  EXPECT_EQ(Read("stdout.jsonl"), out_kept);
  EXPECT_EQ(Read("stderr.jsonl"), "");
  EXPECT_EQ(r.repairs.size(), 2u);
}

TEST_F(RecoveryTest, MidFileBitFlipIsCorruptionAndNothingChanges) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  const std::string a = Out(2), b = Out(3, "middle record"), c = Out(4);
  WriteLines("stdout.jsonl", a, b, c);
  RecoveredRun clean = MustReopen();
  ASSERT_EQ(clean.last_seq, 4u);
  const std::vector<std::string> before = Snapshot();
  const std::string original = Read("stdout.jsonl");
  for (std::size_t i = a.size(); i < a.size() + b.size(); ++i) {
    Overwrite("stdout.jsonl", original);
    Corrupt("stdout.jsonl", i, static_cast<int>(i % 8));
    std::vector<std::string> damaged = Snapshot();
    Status st = Reopen().status();
    ASSERT_EQ(st.code(), Errc::corruption) << "byte " << i;
    EXPECT_NE(st.message().find("stdout.jsonl:" + std::to_string(a.size()) + ":"), std::string::npos)
        << st.message();
    EXPECT_EQ(Snapshot(), damaged) << "files changed after corruption at byte " << i;
  }
  Overwrite("stdout.jsonl", original);
  EXPECT_EQ(MustReopen().last_seq, 4u);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(RecoveryTest, RepeatedAndDecreasingSeqAreCorruption) {
  const std::string a = Out(1), b = Out(2);
  WriteLines("stdout.jsonl", a, b, Out(2));
  std::vector<std::string> damaged = Snapshot();
  Status st = Reopen().status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("stdout.jsonl:" + std::to_string(a.size() + b.size()) + ": seq 2 repeats"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(Snapshot(), damaged);

  Overwrite("stdout.jsonl", Cat(a, Out(3), b));
  WriteLines("stderr.jsonl", Err(4));
  st = Reopen().status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("seq 2 after seq 3"), std::string::npos) << st.message();
}

TEST_F(RecoveryTest, RecoveryTwiceEqualsOnce) {
  WriteLines("worker.jsonl", Event(1, "worker_started"), Event(5, "worker_exited", kAt, "{\"exitCode\":0}"));
  WriteLines("stdout.jsonl", Out(2), Out(4), Out(7));
  const std::string e3 = Err(3);
  WriteLines("stderr.jsonl", e3, Err(6).substr(0, 9));
  RecoveredRun once = MustReopen();
  EXPECT_EQ(once.last_seq, 5u);
  EXPECT_EQ(once.repairs.size(), 2u);
  const std::vector<std::string> after_once = Snapshot();
  RecoveredRun twice = MustReopen();
  EXPECT_EQ(Snapshot(), after_once);
  EXPECT_EQ(twice.last_seq, once.last_seq);
  EXPECT_EQ(twice.sizes, once.sizes);
  EXPECT_EQ(twice.summary.totalEntries, once.summary.totalEntries);
  EXPECT_EQ(twice.summary.stdoutChunkCount, once.summary.stdoutChunkCount);
  EXPECT_EQ(state_to_json(twice.state), state_to_json(once.state));
  EXPECT_TRUE(twice.repairs.empty());
}

// A crash inside recovery, after some cuts and before others (and before
// state.json and durable.seq): the next recovery ends where one would have.
TEST_F(RecoveryTest, CrashMidRecoveryConverges) {
  WriteLines("worker.jsonl", Event(1, "worker_started"), Event(6, "step_completed"));
  WriteLines("stdout.jsonl", Out(2), Out(5), Out(8));
  WriteLines("stderr.jsonl", Err(3), Err(4), Err(7).substr(0, 20));
  const std::vector<std::string> damaged = Snapshot();
  RecoveredRun reference = MustReopen();
  const std::vector<std::string> recovered = Snapshot();
  ASSERT_EQ(reference.last_seq, 6u);

  for (int cuts_done = 0; cuts_done <= 2; ++cuts_done) {
    // Put the damaged run back, then do only part of what recovery does.
    for (std::size_t i = 0; i < 3; ++i) Overwrite(std::string(channel_file_name(static_cast<Channel>(i))), damaged[i]);
    Overwrite("durable.seq", damaged[3]);
    Overwrite("state.json", damaged[5]);
    std::unique_ptr<Dir> run;
    ASSERT_TRUE(posix_fs()->open_root(tmp_ + "/runs/t1/r1", false, 0700).get(run).ok());
    std::unique_ptr<File> ch[3];
    File* fp[3];
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(run->open_file(channel_file_name(static_cast<Channel>(i)), OpenMode::read_write, 0).get(ch[i]).ok());
      fp[i] = ch[i].get();
    }
    RecoveryPlan plan;
    ASSERT_TRUE(plan_recovery(fp, 0).get(plan).ok());
    int done = 0;
    for (int i = 0; i < 3 && done < cuts_done; ++i) {
      if (plan.channels[i].keep < plan.channels[i].size) {
        ASSERT_TRUE(fp[i]->truncate(plan.channels[i].keep).ok());
        ++done;
      }
    }
    RecoveredRun r = MustReopen();
    EXPECT_EQ(r.last_seq, reference.last_seq);
    EXPECT_EQ(Snapshot(), recovered) << "after " << cuts_done << " cuts";
    EXPECT_EQ(state_to_json(r.state), state_to_json(reference.state));
  }
}

TEST_F(RecoveryTest, StateIsRebuiltFromTheWorkerLog) {
  WriteLines("worker.jsonl", Event(1, "worker_started", "2026-11-21T10:00:01.000Z"),
             Event(3, "checkpoint_slot_reserved", "2026-11-21T10:00:02.000Z"),
             Event(4, "worker_exited", "2026-11-21T10:00:03.000Z", "{\"exitCode\":0}"),
             Event(5, "step_completed", "2026-11-21T10:00:04.000Z"));
  WriteLines("stdout.jsonl", Out(2), Out(6));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 6u);
  EXPECT_EQ(r.state.status, RunStatus::completed);
  EXPECT_EQ(r.state.exitCode, 0);
  EXPECT_EQ(r.state.lastEventSeq, 6u);
  EXPECT_EQ(r.state.checkpointSeq, 1u);
  EXPECT_EQ(r.state.finishedAt, "2026-11-21T10:00:04.000Z");
  EXPECT_EQ(r.state.updatedAt, "2026-11-21T10:00:04.000Z");
  EXPECT_EQ(r.state.startedAt, meta_.createdAt);
  RunStateSnapshot on_disk;
  ASSERT_TRUE(state_from_json(Read("state.json")).get(on_disk).ok());
  EXPECT_EQ(state_to_json(on_disk), state_to_json(r.state));

  // Up to date: state.json is not replaced.
  struct stat before{}, after{};
  ASSERT_EQ(::stat(Path("state.json").c_str(), &before), 0);
  MustReopen();
  ASSERT_EQ(::stat(Path("state.json").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST_F(RecoveryTest, StateKeepsWhatTheEngineWroteAndAppliesOnlyLaterEvents) {
  WriteLines("worker.jsonl", Event(1, "worker_started"), Event(2, "checkpoint_slot_reserved"));
  RunStateSnapshot s = MustReopen().state;
  ASSERT_EQ(s.checkpointSeq, 1u);
  s.summary = "set by the engine";
  s.lastEventSeq = 2;
  ASSERT_TRUE(write_state(*files_.dir, s, {}).ok());
  WriteLines("worker.jsonl", Event(3, "checkpoint_slot_reserved"), Event(4, "step_failed"));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.state.summary, "set by the engine");
  EXPECT_EQ(r.state.checkpointSeq, 2u);  // event 2 not counted twice
  EXPECT_EQ(r.state.status, RunStatus::failed);
  EXPECT_EQ(r.state.lastEventSeq, 4u);
}

// SPEC "Recovery": state.json vouches for seq 2; a damaged seq 2 is corruption,
// refused with nothing changed (it used to be cut and the state rebuilt).
TEST_F(RecoveryTest, StateAheadOfTheLogIsCorruptionNothingChanged) {
  WriteLines("worker.jsonl", Event(1, "worker_started"), Event(2, "step_completed"));
  RunStateSnapshot s = MustReopen().state;
  ASSERT_EQ(s.status, RunStatus::completed);
  files_.close();
  // The log loses seq 2; state.json still says completed at 2.
  Truncate("worker.jsonl", Event(1, "worker_started").size() + 5);
  const std::vector<std::string> before = Snapshot();
  Status st = Reopen().status();
  EXPECT_EQ(st.code(), Errc::corruption) << st.to_string();
  EXPECT_NE(st.message().find("worker.jsonl:" + std::to_string(Event(1, "worker_started").size())),
            std::string::npos)
      << st.message();
  EXPECT_EQ(Snapshot(), before);
}

// --- The reproductions of "no acknowledged record is ever cut, renumbered or reused".

// A closed run with durable.seq 7: one bit flipped in the last line of
// stdout.jsonl (seq 5, below W) is corruption, not a torn tail; seqs 6-7 and
// the watermarks stay.
TEST_F(RecoveryTest, FlippedBitBelowFloorIsRefusedAndNothingChanges) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  WriteLines("stdout.jsonl", Out(2), Out(3), Out(4), Out(5));
  WriteLines("worker.jsonl", Event(6, "worker_exited", kAt, "{\"exitCode\":0}"), Event(7, "step_completed"));
  ASSERT_EQ(MustReopen().last_seq, 7u);
  files_.close();
  const std::uint64_t at5 = Cat(Out(2), Out(3), Out(4)).size();
  Corrupt("stdout.jsonl", at5 + 20, 3);
  const std::vector<std::string> before = Snapshot();
  Status st = Reopen().status();
  ASSERT_EQ(st.code(), Errc::corruption) << st.to_string();
  EXPECT_NE(st.message().find("stdout.jsonl:" + std::to_string(at5)), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
  // `truncate -s -100` does the same.
  Truncate("stdout.jsonl", Read("stdout.jsonl").size() - 30);
  const std::vector<std::string> cut = Snapshot();
  EXPECT_EQ(Reopen().status().code(), Errc::corruption);
  EXPECT_EQ(Snapshot(), cut);
}

// `sed -i 2d stdout.jsonl` on a closed run: a hole below W is refused before
// anything is cut (it used to cut every record past the hole first).
TEST_F(RecoveryTest, DeletedLineBelowFloorIsRefusedAndNothingChanges) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  WriteLines("stdout.jsonl", Out(2), Out(3), Out(4), Out(5), Out(6), Out(7));
  WriteLines("worker.jsonl", Event(8, "step_completed"));
  ASSERT_EQ(MustReopen().last_seq, 8u);
  files_.close();
  Overwrite("stdout.jsonl", Cat(Out(2), Out(4), Out(5), Out(6), Out(7)));
  const std::vector<std::string> before = Snapshot();
  Status st = Reopen().status();
  ASSERT_EQ(st.code(), Errc::corruption) << st.to_string();
  EXPECT_NE(st.message().find("seq 3 is missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("stdout.jsonl:" + std::to_string(Out(2).size())), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

// Above the floor the old rule stands: a torn tail is cut, and so is what lies
// past a hole (never acknowledged).
TEST_F(RecoveryTest, TornTailAboveFloorIsCut) {
  WriteLines("worker.jsonl", Event(1, "worker_started"));
  ASSERT_EQ(MustReopen().last_seq, 1u);  // W = 1
  files_.close();
  WriteLines("stdout.jsonl", Out(2));
  AppendBytes("stdout.jsonl", Out(3).substr(0, 10));
  WriteLines("worker.jsonl", Event(4, "step_completed"));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 2u);
  EXPECT_EQ(Read("stdout.jsonl"), Out(2));
  EXPECT_EQ(Read("worker.jsonl"), Event(1, "worker_started"));
}

// Lines of another implementation of the contract (context, no crc, any key
// order, eventIds like "evt-7", no durable.seq) are records: nothing is cut.
TEST_F(RecoveryTest, ForeignLinesAreRecordsNotTornTails) {
  const std::string ctx = R"("taskId":"t1","stepId":"s1","runId":"r1")";
  const std::string w1 = "{" + ctx + R"(,"seq":1,"channel":"worker","eventId":"evt-1","type":"worker_started","level":"info","createdAt":"2026-11-21T10:00:00.000Z","message":"go","data":{},"renderedLine":"go"})" "\n";
  const std::string o2 = R"({"text":"hi\n","seq":2,"channel":"stdout","createdAt":"2026-11-21T10:00:00.001Z",)" + ctx + "}\n";
  const std::string e3 = "{" + ctx + R"(,"seq":3,"channel":"stderr","createdAt":"2026-11-21T10:00:00.002Z","text":"err"})" "\n";
  const std::string w4 = "{" + ctx + R"(,"seq":4,"channel":"worker","eventId":"evt-4","type":"step_completed","level":"info","createdAt":"2026-11-21T10:00:00.003Z","message":"done","data":{},"renderedLine":"done"})" "\n";
  Overwrite("worker.jsonl", w1 + w4);
  Overwrite("stdout.jsonl", o2);
  Overwrite("stderr.jsonl", e3);
  ASSERT_EQ(::unlink(Path("durable.seq").c_str()), 0);
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 4u);
  EXPECT_TRUE(r.repairs.empty());
  EXPECT_EQ(Read("worker.jsonl"), w1 + w4);
  EXPECT_EQ(Read("stdout.jsonl"), o2);
  EXPECT_EQ(Read("stderr.jsonl"), e3);
  EXPECT_EQ(r.state.status, RunStatus::completed);
}

// A flipped bit in an own line never makes it pass as a foreign one.
TEST(RecordRule, OwnLineWithAFlippedBitIsNeverForeign) {
  simdjson::dom::parser parser;
  const std::string line = Out(3, "abc");
  for (std::size_t i = 0; i + 1 < line.size(); ++i)
    for (int b = 0; b < 8; ++b) {
      std::string s = line;
      s[i] = static_cast<char>(s[i] ^ (1 << b));
      const LineVerdict v = check_record_line(s, parser);
      EXPECT_FALSE(v.valid) << "byte " << i << " bit " << b << ": " << s;
    }
  std::uint64_t seq = 0;
  EXPECT_TRUE(is_foreign_record(R"({"taskId":"t","seq":9,"text":"x"})" "\r\n", parser, &seq));
  EXPECT_EQ(seq, 9u);
  EXPECT_FALSE(is_foreign_record(R"({"seq":9,"crc":"zz"})" "\n", parser, &seq));
  EXPECT_FALSE(is_foreign_record(R"({"seq":0,"text":"x"})" "\n", parser, &seq));
  EXPECT_FALSE(is_foreign_record("{\"seq\":1}\n{\"seq\":2}\n", parser, &seq));
}

TEST_F(RecoveryTest, WorkerRecordThatIsNotAnEventIsCorruption) {
  const std::string bad = WithCrc("{\"seq\":1,\"channel\":\"worker\",\"type\":42");
  WriteLines("worker.jsonl", bad);
  Status st = Reopen().status();
  EXPECT_EQ(st.code(), Errc::corruption);
  EXPECT_NE(st.message().find("worker.jsonl:0: field \"type\""), std::string::npos) << st.message();
}

// Lines longer than the scan chunk, spanning chunk boundaries, through real files.
TEST_F(RecoveryTest, StreamingOverLinesLongerThanTheChunk) {
  std::mt19937_64 rng(3);
  std::string out;
  std::vector<std::size_t> ends;
  for (std::uint64_t seq = 1; seq <= 40; ++seq) {
    out += Out(seq, std::string(rng() % 3000, static_cast<char>('a' + seq % 26)));
    ends.push_back(out.size());
  }
  Overwrite("stdout.jsonl", out + std::string(1500, 'z'));
  std::unique_ptr<Dir> run;
  ASSERT_TRUE(posix_fs()->open_root(tmp_ + "/runs/t1/r1", false, 0700).get(run).ok());
  std::unique_ptr<File> f;
  ASSERT_TRUE(run->open_file("stdout.jsonl", OpenMode::read_only, 0).get(f).ok());
  for (std::size_t chunk : {1, 5, 100, 1024, 4096, 1 << 20}) {
    ChannelScanner s(*f, chunk);
    ScannedRecord rec;
    bool have = false;
    std::size_t i = 0;
    while (s.next(&rec, &have).ok() && have) {
      ASSERT_LT(i, ends.size());
      EXPECT_EQ(rec.seq, i + 1);
      EXPECT_EQ(rec.offset + rec.length, ends[i]);
      ++i;
    }
    EXPECT_EQ(i, ends.size()) << chunk;
    EXPECT_EQ(s.valid_end(), out.size());
    EXPECT_EQ(s.size(), out.size() + 1500);
    EXPECT_STREQ(s.torn_what(), "no final newline");
  }
  // Through open_run_dir too, with a 3 MiB line over the default 1 MiB chunk.
  Overwrite("stdout.jsonl", Cat(Out(1), Out(2, std::string(3 << 20, 'L')), Out(3)));
  RecoveredRun r = MustReopen();
  EXPECT_EQ(r.last_seq, 3u);
  AppendBytes("stdout.jsonl", Out(4, std::string(3 << 20, 'M')).substr(0, (3 << 20) - 5));
  r = MustReopen();
  EXPECT_EQ(r.last_seq, 3u);
  ASSERT_EQ(r.repairs.size(), 1u);
}

// A torn tail of 256 MiB of zeros (a sparse hole, as a crash can leave after
// an extending write) is scanned in bounded memory.
TEST_F(RecoveryTest, HugeZeroTailIsScannedInBoundedMemory) {
  WriteLines("stdout.jsonl", Out(1));
  const std::uint64_t huge = std::uint64_t{256} << 20;
  Truncate("stdout.jsonl", Out(1).size() + huge);
  struct rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  RecoveredRun r = MustReopen();
  ::getrusage(RUSAGE_SELF, &after);
  EXPECT_EQ(r.last_seq, 1u);
  EXPECT_EQ(Read("stdout.jsonl"), Out(1));
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB of peak RSS growth";
}

}  // namespace
}  // namespace runlog::io
