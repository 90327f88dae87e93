// tests/io/reader_foreign_test.cpp — lines the reader did not see runlog
// write: other implementations of the contract (context present, no crc,
// keys in any order, unknown keys, whitespace), damage (torn tails skipped,
// damage with valid records after it named by file and byte offset, seqs out
// of order, holes), and the durable cap of a run whose writer holds the lock.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "io/recovery.h"

#include "io/fs.h"
#include "io/reader.h"
#include "io/run_dir.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"
#include "support/reader_support.h"

namespace runlog::testing {
namespace {

struct Read {
  Status status;
  std::vector<std::string> jsonl;
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> notes;
};

Read ReadPath(const std::string& path, const io::ReadFilter& filter = {}, const io::ReaderOptions& o = {}) {
  Read r;
  std::vector<io::Source> sources;
  r.status = io::find_sources(path).get(sources);
  if (!r.status.ok()) return r;
  io::LogReader reader(o);
  for (const io::Source& s : sources) {
    r.status = reader.open(s, filter);
    if (!r.status.ok()) return r;
    const io::Entry* e = nullptr;
    while ((r.status = reader.next(&e)).ok() && e) {
      std::string line;
      io::append_jsonl(*e, reader.context(), &line);
      r.jsonl.push_back(line);
      r.seqs.push_back(e->seq());
    }
    r.notes.insert(r.notes.end(), reader.notes().begin(), reader.notes().end());
    if (!r.status.ok()) return r;
  }
  return r;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

class ReaderForeignTest : public ::testing::TestWithParam<bool> {
 protected:
  io::ReaderOptions Options() const { return GetParam() ? Tiny() : io::ReaderOptions{}; }
  TempDir tmp_{"runlog-foreign"};
};

// A run folder another implementation wrote: context in some lines, no crc,
// keys shuffled, unknown keys, spaces; meta.json with only the context.
TEST_P(ReaderForeignTest, ContractLinesInAnyShapeBecomeTheContractShape) {
  const std::string dir = tmp_ / "run";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_TRUE(WriteFile(dir + "/meta.json", R"({"runId":"fr","taskId":"ft","stepId":"s","other":1})" "\n"));
  ASSERT_TRUE(WriteFile(dir + "/worker.jsonl",
                        Join({R"({"type":"worker_started","seq":1,"level":"info","channel":"worker","eventId":"e1","createdAt":"2026-01-01T00:00:00.000Z","message":"go \"now\"","data":{"k":[1,2,{"x":null}]},"renderedLine":"[2026-01-01T00:00:00.000Z] info worker_started: go \"now\"","taskId":"ft","stepId":"s","runId":"fr"})",
                              R"({"seq":5,"channel":"worker","eventId":"e5","type":"step_completed","level":"info","createdAt":"2026-01-01T00:00:00.004Z","message":"done","data":{},"renderedLine":"[2026-01-01T00:00:00.004Z] info step_completed: done"})"})));
  ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl",
                        Join({R"({ "text" : "h\u00e9llo\n", "createdAt":"2026-01-01T00:00:00.001Z", "seq": 2 , "extra": {"ignored": [true]}, "channel":"stdout" } )",
                              R"({"seq":4,"channel":"stdout","createdAt":"2026-01-01T00:00:00.003Z","text":"contract order, no crc"})"})));
  ASSERT_TRUE(WriteFile(dir + "/stderr.jsonl",
                        R"({"runId":"own-run","seq":3,"channel":"stderr","createdAt":"2026-01-01T00:00:00.002Z","text":"err"})" "\r\n"));
  Read r = ReadPath(dir, {}, Options());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.seqs, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  const std::vector<std::string> want = {
      R"({"taskId":"ft","stepId":"s","runId":"fr","seq":1,"channel":"worker","eventId":"e1","type":"worker_started","level":"info","createdAt":"2026-01-01T00:00:00.000Z","message":"go \"now\"","data":{"k":[1,2,{"x":null}]},"renderedLine":"[2026-01-01T00:00:00.000Z] info worker_started: go \"now\""})"
      "\n",
      R"({"taskId":"ft","stepId":"s","runId":"fr","seq":2,"channel":"stdout","createdAt":"2026-01-01T00:00:00.001Z","text":"h\u00e9llo\n"})"
      "\n",
      R"({"taskId":"ft","stepId":"s","runId":"own-run","seq":3,"channel":"stderr","createdAt":"2026-01-01T00:00:00.002Z","text":"err"})"
      "\n",
      R"({"taskId":"ft","stepId":"s","runId":"fr","seq":4,"channel":"stdout","createdAt":"2026-01-01T00:00:00.003Z","text":"contract order, no crc"})"
      "\n",
      R"({"taskId":"ft","stepId":"s","runId":"fr","seq":5,"channel":"worker","eventId":"e5","type":"step_completed","level":"info","createdAt":"2026-01-01T00:00:00.004Z","message":"done","data":{},"renderedLine":"[2026-01-01T00:00:00.004Z] info step_completed: done"})"
      "\n"};
  ASSERT_EQ(r.jsonl.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(r.jsonl[i], want[i]) << i;
  EXPECT_TRUE(r.notes.empty());

  // after, by bisection over lines whose seq is not their first key.
  io::ReadFilter f;
  f.after = 2;
  Read after = ReadPath(dir, f, Options());
  ASSERT_TRUE(after.status.ok()) << after.status.to_string();
  EXPECT_EQ(after.seqs, (std::vector<std::uint64_t>{3, 4, 5}));
}

// One file holding every channel, in a folder without meta.json; the last
// line has no final newline but is whole.
TEST_P(ReaderForeignTest, OneMixedFileWithoutMeta) {
  const std::string file = tmp_ / "log.jsonl";
  ASSERT_TRUE(WriteFile(file, Join({R"({"seq":7,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"a"})",
                                    "",
                                    R"({"taskId":"x","seq":9,"channel":"stderr","createdAt":"2026-01-01T00:00:00.000Z","text":"b"})"}) +
                                   R"({"seq":10,"channel":"worker","eventId":"e","type":"worker_exited","level":"warn","createdAt":"2026-01-01T00:00:00.000Z","message":"m","data":{"exitCode":3},"renderedLine":"r"})"));
  Read r = ReadPath(file, {}, Options());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.seqs, (std::vector<std::uint64_t>{7, 9, 10}));
  ASSERT_EQ(r.jsonl.size(), 3u);
  EXPECT_EQ(r.jsonl[0], R"({"seq":7,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"a"})" "\n");
  EXPECT_EQ(r.jsonl[1], R"({"taskId":"x","seq":9,"channel":"stderr","createdAt":"2026-01-01T00:00:00.000Z","text":"b"})" "\n");
  io::ReadFilter f;
  f.types = 1u << static_cast<int>(EventType::worker_exited);
  Read typed = ReadPath(file, f, Options());
  EXPECT_EQ(typed.seqs, (std::vector<std::uint64_t>{10}));
}

struct BadCase {
  const char* name;
  std::vector<std::string> lines;  // stdout.jsonl, each given a '\n'
  std::size_t bad_line;            // which line the error names
  const char* what;                // in the message
};

// Damage with valid records after it: an error naming the file and the
// offset of the bad line; the records before it are served first.
TEST_P(ReaderForeignTest, BadLinesAreNamedWithFileAndOffset) {
  const std::string good1 = R"({"seq":1,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"a"})";
  const std::string good3 = R"({"seq":3,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"c"})";
  const std::vector<BadCase> cases = {
      {"not json", {good1, "this is not JSON", good3}, 1, "JSON"},
      {"array", {good1, "[1,2,3]", good3}, 1, "not a JSON object"},
      {"no seq", {good1, R"({"channel":"stdout","createdAt":"x","text":"b"})", good3}, 1, "\"seq\" is missing"},
      {"seq 0", {good1, R"({"seq":0,"channel":"stdout","createdAt":"x","text":"b"})", good3}, 1, "\"seq\" is not a whole number"},
      {"no text", {good1, R"({"seq":2,"channel":"stdout","createdAt":"x"})", good3}, 1, "\"text\" is missing"},
      {"text not string", {good1, R"({"seq":2,"channel":"stdout","createdAt":"x","text":5})", good3}, 1, "\"text\" is not a string"},
      {"bad escape", {good1, R"({"seq":2,"channel":"stdout","createdAt":"x","text":"\q"})", good3}, 1, "\"text\" is not a valid JSON string"},
      {"wrong channel", {good1, R"({"seq":2,"channel":"stderr","createdAt":"x","text":"b"})", good3}, 1, "does not name this file's channel"},
      {"two objects", {good1, R"({"seq":2,"channel":"stdout","createdAt":"x","text":"b"} {"seq":2})", good3}, 1, "JSON object per line"},
      {"split object", {good1, R"({"seq":2,"channel":"stdout",)", R"("createdAt":"x","text":"b"})", good3}, 1, ""},
      {"invalid utf-8", {good1, "{\"seq\":2,\"channel\":\"stdout\",\"createdAt\":\"x\",\"text\":\"\xff\"}", good3}, 1, "UTF-8"},
      {"seq backwards", {good3, good1}, 1, "is not above the previous line's seq 3"},
      {"seq repeated", {good1, good1}, 1, "is not above"},
      {"duplicate key", {good1, R"({"seq":2,"seq":2,"channel":"stdout","createdAt":"x","text":"b"})", good3}, 1, "appears twice"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = tmp_ / (std::string("bad-") + std::to_string(&c - cases.data()));
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl", Join(c.lines)));
    std::size_t offset = 0;
    for (std::size_t i = 0; i < c.bad_line; ++i) offset += c.lines[i].size() + 1;
    Read r = ReadPath(dir, {}, Options());
    EXPECT_EQ(r.status.code(), Errc::corruption) << r.status.to_string();
    EXPECT_NE(r.status.message().find(dir + "/stdout.jsonl:" + std::to_string(offset) + ": "), std::string::npos)
        << r.status.to_string();
    EXPECT_NE(r.status.message().find(c.what), std::string::npos) << r.status.to_string();
    if (c.bad_line == 1 && std::string(c.name) != "seq backwards") {
      EXPECT_EQ(r.seqs, (std::vector<std::uint64_t>{1}));  // what came before is served
    }
  }
}

// Damage with nothing valid after it is a torn tail: skipped with a note.
TEST_P(ReaderForeignTest, TornTailsAreSkippedWithANote) {
  const std::string good1 = R"({"seq":1,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"a"})";
  const std::vector<std::pair<const char*, std::string>> tails = {
      {"partial line", R"({"seq":2,"channel":"std)"},
      {"zeros", std::string(300, '\0')},
      {"garbage lines", "\x01garbage\n{\"seq\":2,\"chan\n"},
      {"own line cut before its newline", ""},
  };
  for (std::size_t i = 0; i < tails.size(); ++i) {
    SCOPED_TRACE(tails[i].first);
    const std::string dir = tmp_ / ("torn-" + std::to_string(i));
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    std::string tail = tails[i].second;
    if (tail.empty()) tail = R"({"seq":2,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"b","crc":"00000000"})";
    ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl", good1 + "\n" + tail));
    Read r = ReadPath(dir, {}, Options());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.seqs, (std::vector<std::uint64_t>{1}));
    ASSERT_EQ(r.notes.size(), 1u);
    EXPECT_NE(r.notes[0].find("torn tail of " + std::to_string(tail.size()) + " bytes at offset " +
                              std::to_string(good1.size() + 1)),
              std::string::npos)
        << r.notes[0];
  }
}

INSTANTIATE_TEST_SUITE_P(Buffers, ReaderForeignTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Tiny" : "Default"; });

// Damage in runs the engine wrote, as a crash (or a disk) could leave them.
class ReaderDamageTest : public EngineTestBase {
 protected:
  void SetUp() override {
    auto engine = OpenEngine(MakeOptions(Durability::none));
    runlog::Run run = OpenRun(*engine, "t", "r");
    Producer p(*engine);
    for (int i = 0; i < 30; ++i) {
      if (i % 3 == 2) {
        LifecycleEvent e{EventType::worker_started, LogLevel::info, "e" + std::to_string(i), ""};
        ASSERT_TRUE(p.push_event(run, e).ok());
      } else {
        ASSERT_TRUE((i % 3 == 0 ? p.push_stdout(run, "out " + std::to_string(i) + "\n")
                                : p.push_stderr(run, "err " + std::to_string(i) + "\n"))
                        .ok());
      }
    }
    ASSERT_TRUE(run.close().ok());
    dir_ = run_dir("t", "r");
    for (const char* f : kChannelFiles) lines_[f] = ReadLines(dir_ + "/" + f);
  }
  void Rewrite(const char* file) {
    std::string s;
    for (const auto& l : lines_[file]) s += l;
    ASSERT_TRUE(WriteFile(dir_ + "/" + file, s));
  }
  // durable.seq and state.json's lastEventSeq say only seqs 1..w were acknowledged.
  void LowerFloor(std::uint64_t w) {
    const std::string n = std::to_string(w);
    ASSERT_TRUE(WriteFile(dir_ + "/durable.seq", std::string(20 - n.size(), '0') + n + "\n"));
    std::string state = ReadFile(dir_ + "/state.json").value_or("");
    const std::size_t at = state.find("\"lastEventSeq\":30");
    ASSERT_NE(at, std::string::npos) << state;
    state.replace(at, 17, "\"lastEventSeq\":" + n);
    ASSERT_TRUE(WriteFile(dir_ + "/state.json", state));
  }
  std::size_t OffsetOf(const char* file, std::size_t line) {
    std::size_t off = 0;
    for (std::size_t i = 0; i < line; ++i) off += lines_[file][i].size();
    return off;
  }
  std::string dir_;
  std::map<std::string, std::vector<std::string>> lines_;
};

TEST_F(ReaderDamageTest, AFlippedBitIsNamed) {
  lines_["stdout.jsonl"][3][40] ^= 0x04;
  Rewrite("stdout.jsonl");
  Read r = ReadPath(dir_);
  EXPECT_EQ(r.status.code(), Errc::corruption);
  EXPECT_NE(r.status.message().find("stdout.jsonl:" + std::to_string(OffsetOf("stdout.jsonl", 3)) + ": "),
            std::string::npos)
      << r.status.to_string();
  EXPECT_NE(r.status.message().find("bad crc"), std::string::npos) << r.status.to_string();
  EXPECT_EQ(r.seqs.size(), 9u);  // seqs 1..9 come before the damaged seq 10
}

// A bit flipped inside a chunk's text in a long file: the line still parses,
// only its crc tells (checked several lines at a time, after the fact).
TEST(ReaderCrcTest, AFlippedBitInTextAmongManyLinesIsNamed) {
  TempDir tmp("runlog-crc");
  Options o;
  o.runsRoot = tmp / "runs";
  o.durability = Durability::none;
  {
    auto engine = Engine::open(o);
    ASSERT_TRUE(engine.ok());
    RunMetadata m;
    m.taskId = "t";
    m.runId = "r";
    auto run = engine.value()->open_run(m);
    ASSERT_TRUE(run.ok());
    Producer p(*engine.value());
    for (int i = 0; i < 3000; ++i) ASSERT_TRUE(p.push_stdout(run.value(), "text number " + std::to_string(i) + "\n").ok());
    ASSERT_TRUE(run.value().close().ok());
  }
  const std::string dir = RunDir(o.runsRoot, "t", "r");
  std::vector<std::string> lines = ReadLines(dir + "/stdout.jsonl");
  ASSERT_EQ(lines.size(), 3000u);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < 1500; ++i) offset += lines[i].size();
  const std::size_t at = lines[1500].find("text number") + 2;
  lines[1500][at] ^= 0x01;  // 'x' -> 'y'
  std::string content;
  for (auto& l : lines) content += l;
  ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl", content + "{\"seq\":3001,\"chan"));  // and a torn tail
  for (bool tiny : {false, true}) {
    Read r = ReadPath(dir, {}, tiny ? Tiny() : io::ReaderOptions{});
    EXPECT_EQ(r.status.code(), Errc::corruption) << r.status.to_string();
    EXPECT_NE(r.status.message().find("stdout.jsonl:" + std::to_string(offset) + ": the line has a bad crc"),
              std::string::npos)
        << r.status.to_string();
    ASSERT_EQ(r.seqs.size(), 1500u);
    EXPECT_EQ(r.seqs.back(), 1500u);
    EXPECT_TRUE(r.notes.empty()) << ::testing::PrintToString(r.notes);
  }
}

TEST_F(ReaderDamageTest, ATornLastRecordEndsTheRunBeforeIt) {
  // The crash cut stderr's last line (seq 29): the run ends at 28, and
  // stdout's seq 28 and worker's 30... are what recovery would keep/cut.
  std::string& last = lines_["stderr.jsonl"].back();
  last = last.substr(0, last.size() / 2);
  Rewrite("stderr.jsonl");
  // The run was closed: seq 30 was acknowledged, so the damaged seq 29 is
  // corruption (SPEC "Recovery"), named where the damage starts.
  Read closed = ReadPath(dir_);
  EXPECT_EQ(closed.status.code(), Errc::corruption) << closed.status.to_string();
  EXPECT_NE(closed.status.message().find("stderr.jsonl:" + std::to_string(OffsetOf("stderr.jsonl", 9))),
            std::string::npos)
      << closed.status.to_string();
  // Acknowledged only up to 28 (a crash before the last batch's sync): a torn tail.
  LowerFloor(28);
  Read r = ReadPath(dir_);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_EQ(r.seqs.size(), 28u);
  EXPECT_EQ(r.seqs.back(), 28u);
  ASSERT_EQ(r.notes.size(), 2u) << ::testing::PrintToString(r.notes);
  EXPECT_NE(r.notes[0].find("torn tail"), std::string::npos) << r.notes[0];
  EXPECT_NE(r.notes[1].find("stopped after seq 28: seq 29 is missing"), std::string::npos) << r.notes[1];
}

TEST_F(ReaderDamageTest, AHoleEndsTheRun) {
  lines_["worker.jsonl"].erase(lines_["worker.jsonl"].begin() + 4);  // seq 15
  Rewrite("worker.jsonl");
  EXPECT_EQ(ReadPath(dir_).status.code(), Errc::corruption);  // below the floor (30)
  LowerFloor(14);
  Read r = ReadPath(dir_);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.seqs.size(), 14u);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("seq 15 is missing"), std::string::npos) << r.notes[0];
  // A channel file read alone has no holes to mind.
  Read alone = ReadPath(dir_ + "/worker.jsonl");
  ASSERT_TRUE(alone.status.ok());
  EXPECT_EQ(alone.seqs.size(), 9u);
}

TEST_F(ReaderDamageTest, AWorkerLineInStderrIsCorruption) {
  const std::size_t offset = OffsetOf("stderr.jsonl", lines_["stderr.jsonl"].size());
  lines_["stderr.jsonl"].push_back(lines_["worker.jsonl"].back());  // seq 30, after stderr's 29
  Rewrite("stderr.jsonl");
  Read r = ReadPath(dir_);
  EXPECT_EQ(r.status.code(), Errc::corruption) << r.status.to_string();
  EXPECT_NE(r.status.message().find("stderr.jsonl:" + std::to_string(offset) + ": the line \"channel\" does not name"),
            std::string::npos)
      << r.status.to_string();
}

TEST_F(ReaderDamageTest, ARepeatedSeqAcrossFilesIsCorruption) {
  // A stream line of stdout, rewritten as stderr with a valid crc, at stderr's end.
  std::string line = lines_["stdout.jsonl"].back();  // seq 28
  line.erase(line.size() - io::kCrcSuffixBytes);
  const std::size_t at = line.find("\"stdout\"");
  line.replace(at, 8, "\"stderr\"");
  char hex[9];
  crc32c_hex(crc32c(line.data(), line.size()), hex);
  hex[8] = 0;
  line += std::string(",\"crc\":\"") + hex + "\"}\n";
  lines_["stderr.jsonl"].pop_back();  // drop 29 so 28 fits in stderr's order
  lines_["stderr.jsonl"].push_back(line);
  Rewrite("stderr.jsonl");
  Read r = ReadPath(dir_);
  EXPECT_EQ(r.status.code(), Errc::corruption) << r.status.to_string();
  EXPECT_NE(r.status.message().find("seq 28 appears twice"), std::string::npos) << r.status.to_string();
}

// A run whose writer holds the lock (here: this process, through another open
// of durable.seq) is served up to durable.seq, and a partial last line is not
// a torn tail while it is live.
TEST_F(ReaderDamageTest, ALiveRunStopsAtDurableSeq) {
  auto fs = io::posix_fs();
  std::unique_ptr<io::Dir> d;
  ASSERT_TRUE(fs->open_root(dir_, false, 0).get(d).ok());
  std::unique_ptr<io::File> lock;
  ASSERT_TRUE(d->open_file("durable.seq", io::OpenMode::read_write, 0).get(lock).ok());
  ASSERT_TRUE(lock->lock_exclusive().ok());
  ASSERT_TRUE(io::write_durable_seq(*lock, 17).ok());
  ASSERT_TRUE(WriteFile(dir_ + "/stdout.jsonl", *ReadFile(dir_ + "/stdout.jsonl") + "{\"seq\":31,\"chan"));

  Read r = ReadPath(dir_);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.seqs.size(), 17u);
  EXPECT_TRUE(r.notes.empty()) << ::testing::PrintToString(r.notes);

  io::LogReader reader;
  io::Source src;
  src.dir = dir_;
  ASSERT_TRUE(reader.open(src).ok());
  EXPECT_TRUE(reader.context().live);
  EXPECT_EQ(reader.context().durable_seq, 17u);
  const io::Entry* e = nullptr;
  std::uint64_t last = 0;
  while (reader.next(&e).ok() && e) last = e->seq();
  EXPECT_EQ(last, 17u);
  EXPECT_FALSE(reader.finished());
  // The writer moves on: refresh() serves what became durable.
  ASSERT_TRUE(io::write_durable_seq(*lock, 25).ok());
  ASSERT_TRUE(reader.refresh().ok());
  while (reader.next(&e).ok() && e) last = e->seq();
  EXPECT_EQ(last, 25u);
  // The writer goes away: everything whole is served; the partial line is a torn tail.
  lock.reset();
  ASSERT_TRUE(reader.refresh().ok());
  EXPECT_FALSE(reader.context().live);
  while (reader.next(&e).ok() && e) last = e->seq();
  EXPECT_EQ(last, 30u);
  ASSERT_EQ(reader.notes().size(), 1u);
  EXPECT_NE(reader.notes()[0].find("torn tail"), std::string::npos);
  EXPECT_FALSE(reader.finished());  // state.json says running: no step_completed
}

}  // namespace
}  // namespace runlog::testing
