// tests/io/verify_test.cpp — io::verify() on real runs made by the engine,
// then damaged with small helper verbs: each kind of damage is reported at the
// right file and byte offset, clean runs are clean, --repair cuts torn tails
// and nothing else, and a run held open by a writer in another process is
// checked only up to what that writer declared durable.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "io/verify.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

// ------------------------------------------------------------ helper verbs

struct Line {
  std::uint64_t offset;
  std::string text;  // with '\n'
};

std::vector<Line> LinesOf(const std::string& path) {
  std::vector<Line> out;
  std::uint64_t off = 0;
  for (std::string& l : ReadLines(path)) {
    const std::size_t n = l.size();
    out.push_back({off, std::move(l)});
    off += n;
  }
  return out;
}

void WriteLines(const std::string& path, const std::vector<Line>& lines) {
  std::string all;
  for (const Line& l : lines) all += l.text;
  ASSERT_TRUE(WriteFile(path, all)) << path;
}

// A line with its CRC made right for `body` (what precedes `,"crc":"`).
std::string Seal(std::string_view body) {
  char hex[9] = {};
  crc32c_hex(crc32c(body.data(), body.size()), hex);
  return std::string(body) + ",\"crc\":\"" + hex + "\"}\n";
}

// The line's body with `from` replaced by `to` (first occurrence), sealed again.
std::string Reseal(const std::string& line, std::string_view from, std::string_view to) {
  std::string body = line.substr(0, line.rfind(",\"crc\":\""));
  const std::size_t at = body.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in " << line;
  if (at != std::string::npos) body.replace(at, from.size(), to);
  return Seal(body);
}

void FlipBit(const std::string& path, std::uint64_t offset, int bit) {
  std::string all = ReadFile(path).value_or("");
  ASSERT_LT(offset, all.size());
  all[offset] = static_cast<char>(all[offset] ^ (1 << bit));
  ASSERT_TRUE(WriteFile(path, all));
}

void AppendBytes(const std::string& path, std::string_view bytes) {
  std::string all = ReadFile(path).value_or("");
  all += bytes;
  ASSERT_TRUE(WriteFile(path, all));
}

std::uint64_t SizeOf(const std::string& path) { return ReadFile(path).value_or("").size(); }

::testing::AssertionResult HasProblem(const io::VerifyReport& r, const std::string& file, std::uint64_t offset,
                                      std::string_view what) {
  std::string all;
  for (const io::VerifyProblem& p : r.problems) {
    if (p.file == file && p.offset == offset && p.what.find(what) != std::string::npos)
      return ::testing::AssertionSuccess();
    all += "\n  " + p.to_string();
  }
  return ::testing::AssertionFailure() << "no problem " << file << ":" << offset << ": ..." << what
                                       << "... among:" << (all.empty() ? " (none)" : all);
}

std::string Problems(const io::VerifyReport& r) {
  std::string all;
  for (const io::VerifyProblem& p : r.problems) all += "\n  " + p.to_string();
  for (const std::string& s : r.repairs) all += "\n  repair: " + s;
  return all;
}

// A writer in another process: forks a child that opens the run with an
// Engine, runs `fill`, flushes, says so through a pipe, and keeps the run open
// until Stop(). Fork while this process runs no threads of its own.
class LiveWriter {
 public:
  LiveWriter(const Options& options, const RunMetadata& meta, std::function<void(Producer&, Run&)> fill) {
    int ready[2], hold[2];
    if (::pipe(ready) != 0 || ::pipe(hold) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(hold[1]);
      auto engine = Engine::open(options);
      if (!engine.ok()) ::_exit(3);
      auto run = engine.value()->open_run(meta);
      if (!run.ok()) ::_exit(4);
      {
        Producer p(*engine.value());
        fill(p, run.value());
      }
      if (!run->flush().ok()) ::_exit(5);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) ::_exit(6);
      while (::read(hold[0], &c, 1) > 0) {
      }
      ::_exit(0);  // without closing: the process ends, the lock goes with it
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    char c = 0;
    ready_ = ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
  }
  ~LiveWriter() { Stop(); }
  bool ready() const { return ready_; }
  void Stop() {
    if (hold_ >= 0) ::close(hold_);
    hold_ = -1;
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int hold_ = -1;
  bool ready_ = false;
};

// ------------------------------------------------------------------ fixture

class VerifyTest : public EngineTestBase {
 protected:
  // The run every test starts from, seqs by file:
  //   worker: 1 worker_started, 8 worker_exited, 9 step_completed
  //   stdout: 2 "alpha", 3 "beta", 5 "delta", 7 "\"quoted\"\ttab"
  //   stderr: 4 "gamma", 6 "x\xffy" (not UTF-8: has bytes)
  std::string MakeRun(std::string_view task = "t1", std::string_view run_id = "r1") {
    auto engine = OpenEngine(MakeOptions());
    if (!engine) return {};
    runlog::Run run = OpenRun(*engine, task, run_id);
    {
      Producer p(*engine);
      Fill(p, run);
      EXPECT_TRUE(p.push_event(run, {EventType::worker_exited, LogLevel::info, "exited", R"({"exitCode":0})"}).ok());
      EXPECT_TRUE(p.push_event(run, {EventType::step_completed, LogLevel::info, "done", ""}).ok());
    }
    EXPECT_TRUE(run.close().ok());
    const std::string dir = run_dir(task, run_id);
    std::uint64_t n = 0;
    EXPECT_TRUE(CheckRun(dir, &n));
    EXPECT_EQ(n, 9u);
    return dir;
  }
  // Seqs 1..7 of the run above.
  static void Fill(Producer& p, runlog::Run& run) {
    EXPECT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", R"({"pid":42})"}).ok());
    EXPECT_TRUE(p.push_stdout(run, "alpha\n").ok());
    EXPECT_TRUE(p.push_stdout(run, "beta\n").ok());
    EXPECT_TRUE(p.push_stderr(run, "gamma\n").ok());
    EXPECT_TRUE(p.push_stdout(run, "delta\n").ok());
    EXPECT_TRUE(p.push_stderr(run, "x\xffy\n").ok());
    EXPECT_TRUE(p.push_stdout(run, "\"quoted\"\ttab\n").ok());
  }

  io::VerifyReport Verify(const std::string& path, bool repair = false) {
    io::VerifyOptions o;
    o.repair = repair;
    std::vector<std::string> paths = {path};
    auto r = io::verify(paths, o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : io::VerifyReport{};
  }
};

// ------------------------------------------------------------------- clean

TEST_F(VerifyTest, RunFromTheEngineIsClean) {
  const std::string dir = MakeRun();
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(r.clean()) << Problems(r);
  EXPECT_EQ(r.runs, 1u);
  EXPECT_EQ(r.records, 9u);
  EXPECT_EQ(r.live, 0u);
  EXPECT_EQ(r.unclosed, 0u);
  // The run folder, the task folder and one file give the same verdict.
  EXPECT_TRUE(Verify(dir).clean());
  EXPECT_TRUE(Verify(root() + "/t1").clean());
  io::VerifyReport one = Verify(dir + "/stderr.jsonl");
  EXPECT_TRUE(one.clean()) << Problems(one);
  EXPECT_EQ(one.files, 1u);
  EXPECT_EQ(one.records, 2u);
}

TEST_F(VerifyTest, ManyRunsAreSortedTheSameWayEveryTime) {
  for (int i = 0; i < 6; ++i) MakeRun("t" + std::to_string(i % 2), "r" + std::to_string(i));
  for (int i = 0; i < 6; ++i) AppendBytes(run_dir("t" + std::to_string(i % 2), "r" + std::to_string(i)) + "/stdout.jsonl", "{\"seq\"");
  io::VerifyReport a = Verify(root());
  io::VerifyReport b = Verify(root());
  ASSERT_EQ(a.problems.size(), 6u) << Problems(a);
  EXPECT_EQ(a.runs, 6u);
  for (std::size_t i = 0; i < a.problems.size(); ++i) {
    EXPECT_EQ(a.problems[i].to_string(), b.problems[i].to_string());
    if (i > 0) {
      EXPECT_LT(a.problems[i - 1].file, a.problems[i].file);
    }
  }
}

TEST_F(VerifyTest, MissingPathIsAnError) {
  std::vector<std::string> paths = {tmp() + "/nope"};
  auto r = io::verify(paths);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
}

// -------------------------------------------------------- damage in lines

TEST_F(VerifyTest, FlippedBitInAMiddleLineIsCorruptionAtItsOffset) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  ASSERT_EQ(lines.size(), 4u);
  FlipBit(path, lines[1].offset + 30, 2);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "bad crc"));
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "valid records after it"));
  EXPECT_EQ(r.problems.size(), 1u) << Problems(r);  // the seq it held is not reported again
}

TEST_F(VerifyTest, FlippedNewlineThatHidesARecordIsNotATornTail) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  // The '\n' of the second-to-last line: the last two records run together.
  FlipBit(path, lines[3].offset - 1, 0);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "not a torn tail")) << Problems(r);
}

TEST_F(VerifyTest, TornTailIsReportedWithTheRepairHint) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  const std::uint64_t size = SizeOf(path);
  const std::string torn = R"({"seq":10,"channel":"stdout","crea)";
  AppendBytes(path, torn);
  io::VerifyReport r = Verify(root());
  ASSERT_EQ(r.problems.size(), 1u) << Problems(r);
  EXPECT_EQ(r.problems[0].file, path);
  EXPECT_EQ(r.problems[0].offset, size);
  EXPECT_EQ(r.problems[0].what, "torn tail (" + std::to_string(torn.size()) + " bytes), run `runlog verify --repair`");
}

// The last records damaged where durable.seq says they were acknowledged: not
// a write that a crash interrupted, and never cut.
TEST_F(VerifyTest, DamagedTailBelowTheWatermarkIsNotATornTail) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/worker.jsonl";
  std::vector<Line> lines = LinesOf(path);  // seqs 1 8 9
  std::string all = ReadFile(path).value_or("");
  for (std::size_t i = lines[2].offset + 10; i < lines[2].offset + 74; ++i) all[i] = 'Z';  // 64 bytes of seq 9
  ASSERT_TRUE(WriteFile(path, all));
  io::VerifyReport r = Verify(root(), /*repair=*/true);
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "was acknowledged")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "corruption, not repaired")) << Problems(r);
  EXPECT_EQ(ReadFile(path).value_or(""), all);
}

TEST_F(VerifyTest, ZerosAtTheEndAreATornTail) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/worker.jsonl";
  const std::uint64_t size = SizeOf(path);
  AppendBytes(path, std::string(4096, '\0'));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, size, "torn tail (4096 bytes)")) << Problems(r);
}

TEST_F(VerifyTest, HoleAcrossChannelsIsReportedWhereTheNextRecordIs) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  const std::uint64_t at = lines[0].offset;  // "alpha", seq 2; seq 3 takes its place
  lines.erase(lines.begin());
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, at, "seq 2 missing")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, path, at, "declared durable"));  // below the watermark: not repairable
  io::VerifyReport again = Verify(root(), /*repair=*/true);
  EXPECT_FALSE(again.clean());
  EXPECT_EQ(LinesOf(path).size(), 3u) << "a hole below the watermark is never cut";
}

TEST_F(VerifyTest, DuplicateSeqInOneFile) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  const std::uint64_t at = lines[2].offset;
  lines.insert(lines.begin() + 2, lines[1]);  // seq 3 twice
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, at, "seq 3 repeats")) << Problems(r);
}

TEST_F(VerifyTest, DuplicateSeqAcrossFiles) {
  const std::string dir = MakeRun();
  const std::string out = dir + "/stdout.jsonl";
  const std::string err = dir + "/stderr.jsonl";
  std::vector<Line> o = LinesOf(out);
  std::vector<Line> e = LinesOf(err);
  // stdout's seq 5 copied into stderr, between its seqs 4 and 6.
  const std::string copy = Reseal(o[2].text, R"("channel":"stdout")", R"("channel":"stderr")");
  const std::uint64_t at = e[1].offset;
  e.insert(e.begin() + 1, Line{0, copy});
  WriteLines(err, e);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, err, at, "seq 5 repeats (also in stdout.jsonl at offset " + std::to_string(o[2].offset)))
      << Problems(r);
}

TEST_F(VerifyTest, SeqGoingBackwardsInAFile) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  std::swap(lines[1].text, lines[2].text);  // seqs 2 5 3 7
  WriteLines(path, lines);
  const std::uint64_t at = lines[0].text.size() + lines[1].text.size();
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, at, "seq 3 after seq 5")) << Problems(r);
}

TEST_F(VerifyTest, BytesThatDoNotDecodeToText) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stderr.jsonl";
  std::vector<Line> lines = LinesOf(path);
  ASSERT_NE(lines[1].text.find("\"bytes\""), std::string::npos);
  lines[1].text = Reseal(lines[1].text, "\"text\":\"x", "\"text\":\"z");
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "text is not the WHATWG UTF-8 decoding of bytes")) << Problems(r);
}

TEST_F(VerifyTest, InvalidUtf8InAForeignLine) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  // Another writer's line: raw 0xff in text, and a right CRC over it.
  lines[2].text = Reseal(lines[2].text, "delta", "del\xff" "a");
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "not valid UTF-8")) << Problems(r);
  EXPECT_EQ(r.problems.size(), 1u) << Problems(r);
}

TEST_F(VerifyTest, LineOfAnotherChannelInTheWrongFile) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  lines[1].text = Reseal(lines[1].text, R"("channel":"stdout")", R"("channel":"stderr")");
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "channel \"stderr\" in stdout.jsonl")) << Problems(r);
}

TEST_F(VerifyTest, LineContentRules) {
  struct Case {
    const char* file;
    std::size_t line;
    const char* from;
    const char* to;
    const char* what;
  } cases[] = {
      {"stdout.jsonl", 0, "\"createdAt\":\"", "\"createdAt\":\"x", "createdAt"},
      {"stdout.jsonl", 0, "alpha", "\\u0061lpha", "is not as JSON.stringify writes it"},
      {"stdout.jsonl", 0, "alpha", "\\qlpha", "invalid escape"},
      {"stdout.jsonl", 0, "\"text\":", "\"txt\":", "key \"txt\" where \"text\" belongs"},
      {"stdout.jsonl", 0, ",\"text\"", " ,\"text\"", "not compact"},
      {"worker.jsonl", 0, "\"type\":\"worker_started\"", "\"type\":\"worker_begun\"", "WorkerLifecycleEventType"},
      {"worker.jsonl", 0, "\"level\":\"info\"", "\"level\":\"loud\"", "level"},
      {"worker.jsonl", 0, "\"eventId\":\"", "\"eventId\":\"X", "eventId"},
      {"worker.jsonl", 0, "] info worker_started: started", "] info worker_started: begun", "renderedLine"},
      {"worker.jsonl", 0, "\"data\":{\"pid\":42}", "\"data\":{\"pid\":4x2}", "data"},
      {"worker.jsonl", 0, "\"data\":{\"pid\":42}", "\"data\":{\"pid\": 42}", "not compact"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string dir = MakeRun("c", std::string("r") + std::to_string(&c - cases));
    const std::string path = dir + "/" + c.file;
    std::vector<Line> lines = LinesOf(path);
    lines[c.line].text = Reseal(lines[c.line].text, c.from, c.to);
    WriteLines(path, lines);
    io::VerifyReport r = Verify(dir);
    EXPECT_TRUE(HasProblem(r, path, lines[c.line].offset, c.what)) << Problems(r);
  }
}

// ---------------------------------------------------- meta, state, durable

TEST_F(VerifyTest, MetaJsonThatIsNotJson) {
  const std::string dir = MakeRun();
  ASSERT_TRUE(WriteFile(dir + "/meta.json", "{\"layoutVersion\":"));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/meta.json", 0, "not JSON")) << Problems(r);
}

TEST_F(VerifyTest, MetaJsonWithOtherIds) {
  const std::string dir = MakeRun();
  std::string meta = ReadFile(dir + "/meta.json").value_or("");
  const std::size_t at = meta.find("\"runId\":\"r1\"");
  ASSERT_NE(at, std::string::npos) << meta;
  meta.replace(at, 12, "\"runId\":\"r2\"");
  ASSERT_TRUE(WriteFile(dir + "/meta.json", meta));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/meta.json", 0, "runId \"r2\" is not the run folder's name \"r1\"")) << Problems(r);
}

TEST_F(VerifyTest, MetaJsonWithoutAField) {
  const std::string dir = MakeRun();
  std::string meta = ReadFile(dir + "/meta.json").value_or("");
  const std::size_t at = meta.find(",\"workerKind\":\"test\"");
  ASSERT_NE(at, std::string::npos) << meta;
  meta.erase(at, std::string_view(",\"workerKind\":\"test\"").size());
  ASSERT_TRUE(WriteFile(dir + "/meta.json", meta));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/meta.json", 0, "field \"workerKind\": missing")) << Problems(r);
}

TEST_F(VerifyTest, StateJsonWhoseStatusTheLogDoesNotGive) {
  const std::string dir = MakeRun();
  std::string state = ReadFile(dir + "/state.json").value_or("");
  const std::size_t at = state.find("\"status\":\"completed\"");
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, 20, "\"status\":\"failed\"");
  ASSERT_TRUE(WriteFile(dir + "/state.json", state));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/state.json", 0,
                         "status \"failed\", but the lifecycle up to lastEventSeq 9 gives \"completed\" (the last "
                         "status-changing event is step_completed at seq 9)"))
      << Problems(r);
}

TEST_F(VerifyTest, StateJsonPastTheLog) {
  const std::string dir = MakeRun();
  std::string state = ReadFile(dir + "/state.json").value_or("");
  const std::size_t at = state.find("\"lastEventSeq\":9");
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, 16, "\"lastEventSeq\":12");
  ASSERT_TRUE(WriteFile(dir + "/state.json", state));
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/state.json", 0, "lastEventSeq 12 is past the last record (seq 9)")) << Problems(r);
}

TEST_F(VerifyTest, DurableSeqMalformedOrPastTheLog) {
  const std::string dir = MakeRun();
  ASSERT_TRUE(WriteFile(dir + "/durable.seq", "12\n"));
  EXPECT_TRUE(HasProblem(Verify(root()), dir + "/durable.seq", 0, "malformed"));
  ASSERT_TRUE(WriteFile(dir + "/durable.seq", "00000000000000000012\n"));
  EXPECT_TRUE(HasProblem(Verify(root()), dir + "/durable.seq", 0, "past the last record (seq 9)"));
}

TEST_F(VerifyTest, MissingFilesOfARun) {
  const std::string dir = MakeRun();
  ASSERT_EQ(::unlink((dir + "/state.json").c_str()), 0);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/state.json", 0, "missing")) << Problems(r);
}

// A writer that stopped without closing (a crash): state.json and durable.seq
// behind the log are legal, and recovery brings them up to date.
TEST_F(VerifyTest, RunWhoseWriterDiedWithoutClosingIsClean) {
  {
    LiveWriter w(MakeOptions(), Meta("t1", "r1"), [](Producer& p, runlog::Run& run) { Fill(p, run); });
    ASSERT_TRUE(w.ready());
  }  // the child exits without closing the run
  const std::string dir = run_dir("t1", "r1");
  const StateFile state = ReadState(dir);  // written or not yet for worker_started: both are legal
  ASSERT_TRUE(state.ok) << state.error;
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(r.clean()) << Problems(r);
  EXPECT_EQ(r.records, 7u);
  // Closed or not can only be told when state.json lags the log.
  if (state.lastEventSeq < 7) {
    EXPECT_EQ(r.unclosed, 1u);
  }
}

// ------------------------------------------------------------------ live

TEST_F(VerifyTest, LiveRunIsCheckedOnlyUpToDurableSeq) {
  LiveWriter w(MakeOptions(), Meta("t1", "r1"), [](Producer& p, runlog::Run& run) { Fill(p, run); });
  ASSERT_TRUE(w.ready());
  const std::string dir = run_dir("t1", "r1");
  ASSERT_EQ(ReadDurableSeq(dir), 7u);
  // Past durable.seq: a whole line that no check would pass, then a torn write.
  const std::string path = dir + "/stdout.jsonl";
  AppendBytes(path, Seal(R"({"seq":8,"channel":"stderr","createdAt":"never")"));
  AppendBytes(path, R"({"seq":9,"channel":"stdout","createdAt":"2026-)");
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(r.clean()) << Problems(r);
  EXPECT_EQ(r.live, 1u);
  EXPECT_EQ(r.records, 7u);
  // Repair leaves a live run alone.
  const std::string before = ReadFile(path).value_or("");
  EXPECT_TRUE(Verify(root(), /*repair=*/true).repairs.empty());
  EXPECT_EQ(ReadFile(path).value_or(""), before);
  w.Stop();
  // Now that the writer is gone, the same bytes are problems.
  io::VerifyReport after = Verify(root());
  EXPECT_FALSE(after.clean());
  EXPECT_EQ(after.live, 0u);
}

TEST_F(VerifyTest, LiveRunWithDamageBelowDurableSeqIsReported) {
  LiveWriter w(MakeOptions(), Meta("t1", "r1"), [](Producer& p, runlog::Run& run) { Fill(p, run); });
  ASSERT_TRUE(w.ready());
  const std::string path = run_dir("t1", "r1") + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  FlipBit(path, lines[1].offset + 20, 1);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "bad crc")) << Problems(r);
}

// ------------------------------------------------------------------ repair

TEST_F(VerifyTest, RepairCutsATornTailAndThenTheRunIsClean) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  const std::string before = ReadFile(path).value_or("");
  AppendBytes(path, "{\"seq\":10,\"chann");
  io::VerifyReport r = Verify(root(), /*repair=*/true);
  EXPECT_TRUE(r.clean()) << Problems(r);
  ASSERT_EQ(r.repairs.size(), 1u) << Problems(r);
  EXPECT_EQ(r.repairs[0], path + ": cut 16 bytes at offset " + std::to_string(before.size()) + " (torn tail)");
  EXPECT_EQ(ReadFile(path).value_or(""), before);
  EXPECT_TRUE(Verify(root()).clean());
}

TEST_F(VerifyTest, RepairNeverTouchesMidFileCorruption) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);
  FlipBit(path, lines[1].offset + 30, 2);
  AppendBytes(dir + "/stderr.jsonl", "{\"seq\":10");  // a torn tail beside it is not cut either
  const std::string out = ReadFile(path).value_or("");
  const std::string err = ReadFile(dir + "/stderr.jsonl").value_or("");
  io::VerifyReport r = Verify(root(), /*repair=*/true);
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "bad crc")) << Problems(r);
  ASSERT_EQ(r.repairs.size(), 1u);
  EXPECT_NE(r.repairs[0].find("not repaired"), std::string::npos) << r.repairs[0];
  EXPECT_EQ(ReadFile(path).value_or(""), out);
  EXPECT_EQ(ReadFile(dir + "/stderr.jsonl").value_or(""), err);
}

// A crash may leave records past a hole (the writer's last batch reached one
// file and not another). Past the durable watermark they were never
// acknowledged: recovery cuts them, and so does --repair.
TEST_F(VerifyTest, RepairCutsUnacknowledgedRecordsPastAHole) {
  {
    LiveWriter w(MakeOptions(), Meta("t1", "r1"), [](Producer& p, runlog::Run& run) { Fill(p, run); });
    ASSERT_TRUE(w.ready());
  }
  const std::string dir = run_dir("t1", "r1");
  // As if seqs 5.. were written and never synced: the watermarks say 4 at most.
  ASSERT_TRUE(WriteFile(dir + "/durable.seq", "00000000000000000004\n"));
  std::string state = ReadFile(dir + "/state.json").value_or("");
  const std::size_t at = state.find("\"lastEventSeq\":");
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, state.find(',', at) - at, "\"lastEventSeq\":1");
  const std::size_t st = state.find("\"status\":\"");
  state.replace(st, state.find(',', st) - st, "\"status\":\"running\"");  // what seq 1 gives
  ASSERT_TRUE(WriteFile(dir + "/state.json", state));
  const std::string path = dir + "/stdout.jsonl";
  std::vector<Line> lines = LinesOf(path);  // seqs 2 3 5 7
  lines.erase(lines.begin() + 2);           // seq 5 lost
  WriteLines(path, lines);
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, dir + "/stderr.jsonl", LinesOf(dir + "/stderr.jsonl")[1].offset,
                         "never acknowledged"))
      << Problems(r);
  io::VerifyReport fixed = Verify(root(), /*repair=*/true);
  EXPECT_TRUE(fixed.clean()) << Problems(fixed);
  EXPECT_EQ(fixed.records, 4u);
  EXPECT_EQ(ReadDurableSeq(dir), 4u);
}

TEST_F(VerifyTest, RepairOfASingleFile) {
  const std::string dir = MakeRun();
  const std::string path = dir + "/stderr.jsonl";
  const std::string before = ReadFile(path).value_or("");
  AppendBytes(path, std::string(100, '\0'));
  io::VerifyReport r = Verify(path, /*repair=*/true);
  EXPECT_TRUE(r.clean()) << Problems(r);
  EXPECT_EQ(ReadFile(path).value_or(""), before);
}

// ---------------------------------------------------------- conversations

TEST_F(VerifyTest, ConversationChunksAreGapFreeInTheirOneFile) {
  const std::string dir = tmp() + "/conversations/c1";
  ASSERT_EQ(::mkdir((tmp() + "/conversations").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/chunks.jsonl";
  std::vector<Line> lines = {
      {0, Seal(R"({"seq":1,"role":"user","chunk":{"type":"text","text":"hi"})")},
      {0, Seal(R"({"seq":2,"role":"assistant","chunk":{"type":"tool-call","toolCallId":"t1","toolName":"ls","input":{"a":[1,true,null]}})")},
      {0, Seal(R"({"seq":3,"role":"tool","chunk":{"type":"tool-result","toolCallId":"t1","toolName":"ls","content":"x","isError":false})")},
  };
  WriteLines(path, lines);
  io::VerifyReport r = Verify(tmp() + "/conversations");
  EXPECT_TRUE(r.clean()) << Problems(r);
  EXPECT_EQ(r.conversations, 1u);
  EXPECT_EQ(r.records, 3u);
  // A hole, a role that is not one, a chunk without its type first.
  lines.erase(lines.begin() + 1);
  lines.push_back({0, Seal(R"({"seq":4,"role":"robot","chunk":{"type":"text","text":"x"})")});
  lines.push_back({0, Seal(R"({"seq":5,"role":"user","chunk":{"text":"x","type":"text"})")});
  WriteLines(path, lines);
  lines = LinesOf(path);
  r = Verify(dir);
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "seq 2 missing")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "role \"robot\" is not"));
  EXPECT_TRUE(HasProblem(r, path, lines[3].offset, "\"chunk\" does not start with a string \"type\""));
}

// A chunk is checked against wire.ts: its type, its fields and their types.
TEST_F(VerifyTest, ConversationChunksAreCheckedAgainstTheContract) {
  const std::string dir = tmp() + "/c2";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/chunks.jsonl";
  WriteLines(path, {
      {0, Seal(R"({"seq":1,"role":"user","chunk":{"type":"picture","url":"x"})")},
      {0, Seal(R"({"seq":2,"role":"assistant","chunk":{"type":"tool-call","toolName":"ls","input":{}})")},
      {0, Seal(R"({"seq":3,"role":"tool","chunk":{"type":"tool-result","toolCallId":"t","toolName":"ls","content":"x","isError":"no"})")},
      {0, Seal(R"({"seq":4,"role":"user","chunk":{"type":"text","text":"fine"})")},
  });
  std::vector<Line> lines = LinesOf(path);
  io::VerifyReport r = Verify(dir);
  EXPECT_EQ(r.conversations, 1u);
  EXPECT_TRUE(HasProblem(r, path, lines[0].offset, "unknown type \"picture\"")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, path, lines[1].offset, "missing \"toolCallId\"")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, path, lines[2].offset, "\"isError\" must be a boolean")) << Problems(r);
  EXPECT_FALSE(HasProblem(r, path, lines[3].offset, "")) << Problems(r);
}

// ------------------------------------------------------------ big files

// A file larger than a segment is checked by both workers; damage near a
// segment boundary is still found at its offset.
TEST_F(VerifyTest, BigFileSplitAcrossWorkers) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "big", "r1");
  {
    Producer p(*engine);
    std::string chunk(4000, 'x');
    chunk.back() = '\n';
    for (int i = 0; i < 40000; ++i) ASSERT_TRUE(p.push_stdout(run, chunk).ok());
  }
  ASSERT_TRUE(run.close().ok());
  const std::string path = run_dir("big", "r1") + "/stdout.jsonl";
  ASSERT_GT(SizeOf(path), 140u << 20);
  io::VerifyReport clean = Verify(root());
  EXPECT_TRUE(clean.clean()) << Problems(clean);
  EXPECT_EQ(clean.records, 40000u);
  // Damage in the line that holds byte 64 MiB (the first segment boundary).
  const std::uint64_t target = 64u << 20;
  std::uint64_t line_start = 0;
  {
    std::string all = ReadFile(path).value_or("");
    line_start = all.rfind('\n', target + 9) + 1;
    all[target + 10] = 'Y';
    ASSERT_TRUE(WriteFile(path, all));
  }
  io::VerifyReport r = Verify(root());
  EXPECT_TRUE(HasProblem(r, path, line_start, "bad crc")) << Problems(r);
  EXPECT_EQ(r.problems.size(), 1u) << Problems(r);
}

}  // namespace
}  // namespace runlog::testing
