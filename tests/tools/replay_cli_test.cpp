// tests/tools/replay_cli_test.cpp — `runlog replay` and `runlog summary` as
// processes: --help, exit statuses (0, 1 with file and offset, 2 for bad
// usage), the three formats against the library and the bytes pushed, runs
// roots in order, and summary against the files.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "io/reader.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

ProcessResult Cli(std::vector<std::string> args) { return RunCli(std::move(args)); }

std::string LibraryJsonl(const std::string& path, const io::ReadFilter& f = {}) {
  std::vector<io::Source> sources;
  EXPECT_TRUE(io::find_sources(path).get(sources).ok());
  std::string out;
  io::LogReader reader;
  for (auto& s : sources) {
    EXPECT_TRUE(reader.open(s, f).ok());
    const io::Entry* e = nullptr;
    while (reader.next(&e).ok() && e) io::append_jsonl(*e, reader.context(), &out);
  }
  return out;
}

TEST(ReplayCliTest, HelpExplainsEveryOption) {
  ProcessResult r = Cli({"replay", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << r.err;
  for (const char* opt : {"--after", "--channel", "--type", "--level", "--since", "--until", "--limit", "--format",
                          "--follow", "jsonl", "text", "raw", "durable.seq", "Exit status"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  }
  ProcessResult s = Cli({"summary", "--help"});
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  for (const char* key : {"totalEntries", "lastSeq", "lifecycleEventCount", "stdoutChunkCount", "stderrChunkCount",
                          "firstCreatedAt", "bytes", "meta", "state", "Exit status"}) {
    EXPECT_NE(s.out.find(key), std::string::npos) << key;
  }
  ProcessResult top = Cli({"--help"});
  EXPECT_NE(top.out.find("replay"), std::string::npos);
  EXPECT_NE(top.out.find("summary"), std::string::npos);
}

TEST(ReplayCliTest, BadUsageIsExitTwo) {
  TempDir tmp("runlog-replay-cli");
  const std::string p = tmp.path();
  const std::vector<std::vector<std::string>> cases = {
      {"replay"},
      {"replay", p, "--bogus"},
      {"replay", p, p},
      {"replay", p, "--format", "xml"},
      {"replay", p, "--type", "nope"},
      {"replay", p, "--type", "worker_started,nope"},
      {"replay", p, "--level", "loud"},
      {"replay", p, "--channel", "stdin"},
      {"replay", p, "--since", "2026-01-01"},
      {"replay", p, "--until", "yesterday"},
      {"replay", p, "--after", "-1"},
      {"replay", p, "--after", "x"},
      {"replay", p, "--limit", "1.5"},
      {"replay", p, "--after"},
      {"replay", p, "--format", "raw", "--channel", "worker"},
      {"replay", p, "--format", "raw", "--type", "worker_started"},
      {"summary"},
      {"summary", p, "--after", "3"},
      {"summary", p, p},
  };
  for (const auto& c : cases) {
    ProcessResult r = Cli(c);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(c) << " " << r.describe() << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << ::testing::PrintToString(c);
    EXPECT_NE(r.err.find("--help"), std::string::npos) << ::testing::PrintToString(c) << r.err;
  }
}

class ReplayCliRunTest : public EngineTestBase {
 protected:
  // Two tasks, three runs; stdout gets invalid UTF-8 and split characters.
  void SetUp() override {
    auto engine = OpenEngine(MakeOptions(Durability::none));
    ASSERT_NE(engine, nullptr);
    int k = 0;
    for (auto [task, id] : std::vector<std::pair<const char*, const char*>>{{"t2", "a"}, {"t1", "b"}, {"t1", "a"}}) {
      runlog::Run run = OpenRun(*engine, task, id);
      Producer p(*engine);
      std::string& pushed = pushed_[std::string(task) + "/" + id];
      for (int i = 0; i < 200; ++i) {
        std::string chunk = "line " + std::to_string(i) + (i % 7 == 0 ? "\xff\xfe" : "") + " \xe2\x82";
        chunk += "\xac\n";
        const std::size_t cut = static_cast<std::size_t>(i) % chunk.size();
        ASSERT_TRUE(p.push_stdout(run, chunk.substr(0, cut)).ok());
        ASSERT_TRUE(p.push_stdout(run, chunk.substr(cut)).ok());
        pushed += chunk;
        if (i % 10 == 0) {
          ASSERT_TRUE(p.push_stderr(run, "warning " + std::to_string(i) + "\n").ok());
          stderr_bytes_[std::string(task) + "/" + id] += 9 + std::to_string(i).size();
        }
        if (i % 50 == 0) {
          LifecycleEvent e{EventType::worker_started, LogLevel::info, "event " + std::to_string(k++), ""};
          ASSERT_TRUE(p.push_event(run, e).ok());
        }
      }
      LifecycleEvent done{EventType::step_completed, LogLevel::info, "done", ""};
      ASSERT_TRUE(p.push_event(run, done).ok());
      ASSERT_TRUE(run.close().ok());
    }
  }
  std::map<std::string, std::string> pushed_;
  std::map<std::string, std::size_t> stderr_bytes_;
};

TEST_F(ReplayCliRunTest, JsonlIsWhatTheLibraryReads) {
  for (const std::string& path : {run_dir("t1", "a"), root(), root() + "/t1", run_dir("t2", "a") + "/stdout.jsonl"}) {
    ProcessResult r = Cli({"replay", path});
    ASSERT_EQ(r.exit_code, 0) << path << " " << r.describe() << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    EXPECT_EQ(r.out, LibraryJsonl(path)) << path;
  }
  // A runs root: runs by task, then run; each in seq order.
  ProcessResult r = Cli({"replay", root(), "--format", "jsonl", "--type", "step_completed"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < r.out.size();) {
    std::size_t nl = r.out.find('\n', at);
    lines.push_back(r.out.substr(at, nl - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"taskId\":\"t1\",\"stepId\":\"step-1\",\"runId\":\"a\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"taskId\":\"t1\",\"stepId\":\"step-1\",\"runId\":\"b\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"taskId\":\"t2\",\"stepId\":\"step-1\",\"runId\":\"a\""), std::string::npos) << lines[2];
}

TEST_F(ReplayCliRunTest, FiltersAndLimit) {
  io::ReadFilter f;
  f.after = 100;
  f.channels = io::channel_bit(Channel::stderr_) | io::channel_bit(Channel::worker);
  ProcessResult r = Cli({"replay", run_dir("t1", "b"), "--after", "100", "--channel", "stderr,worker"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, LibraryJsonl(run_dir("t1", "b"), f));
  ProcessResult twice = Cli({"replay", run_dir("t1", "b"), "--after=100", "--channel", "stderr", "--channel", "worker"});
  EXPECT_EQ(twice.out, r.out);
  // --limit counts across the runs of a root.
  ProcessResult lim = Cli({"replay", root(), "--limit", "450"});
  ASSERT_EQ(lim.exit_code, 0) << lim.err;
  EXPECT_EQ(std::count(lim.out.begin(), lim.out.end(), '\n'), 450);
  EXPECT_EQ(lim.out, LibraryJsonl(root()).substr(0, lim.out.size()));
}

TEST_F(ReplayCliRunTest, RawIsTheBytesPushedAndTextIsTheirDecoding) {
  for (auto& [name, pushed] : pushed_) {
    const std::string dir = root() + "/" + name;
    ProcessResult raw = Cli({"replay", dir, "--format", "raw", "--channel", "stdout"});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    EXPECT_TRUE(raw.out == pushed) << name;
    ProcessResult text = Cli({"replay", dir, "--format", "text", "--channel", "stdout"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_TRUE(text.out == WhatwgDecode(pushed)) << name;
    // Default raw channels: stdout and stderr, merged by seq.
    ProcessResult both = Cli({"replay", dir, "--format", "raw"});
    ASSERT_EQ(both.exit_code, 0);
    EXPECT_EQ(both.out.size(), pushed.size() + stderr_bytes_[name]);
    // text with every channel: lifecycle entries as their renderedLine.
    ProcessResult all = Cli({"replay", dir, "--format", "text"});
    EXPECT_NE(all.out.find("] info step_completed: done\n"), std::string::npos);
  }
}

TEST_F(ReplayCliRunTest, SummaryMatchesTheFiles) {
  ProcessResult r = Cli({"summary", run_dir("t1", "a")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  simdjson::dom::parser parser;
  simdjson::dom::element el;
  ASSERT_FALSE(parser.parse(r.out).get(el)) << r.out;
  std::uint64_t n[3] = {0, 0, 0}, last = 0;
  for (const Record& rec : ParseRun(run_dir("t1", "a"))) {
    ++n[rec.channel == "worker" ? 0 : rec.channel == "stdout" ? 1 : 2];
    last = std::max(last, rec.seq);
  }
  EXPECT_EQ(std::uint64_t(el["totalEntries"]), n[0] + n[1] + n[2]);
  EXPECT_EQ(std::uint64_t(el["lastSeq"]), last);
  EXPECT_EQ(std::uint64_t(el["lifecycleEventCount"]), n[0]);
  EXPECT_EQ(std::uint64_t(el["stdoutChunkCount"]), n[1]);
  EXPECT_EQ(std::uint64_t(el["stderrChunkCount"]), n[2]);
  for (int c = 0; c < 3; ++c) {
    const char* names[] = {"worker", "stdout", "stderr"};
    EXPECT_EQ(std::uint64_t(el["bytes"][names[c]]), ReadFile(run_dir("t1", "a") + "/" + kChannelFiles[c])->size());
  }
  EXPECT_EQ(std::string_view(el["state"]["status"]), "completed");
  EXPECT_EQ(std::string_view(el["meta"]["runId"]), "a");
  EXPECT_FALSE(bool(el["live"]));
  // A root: one line per run, in order.
  ProcessResult all = Cli({"summary", root()});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 3);
  EXPECT_EQ(all.out.find(r.out), 0u);
}

TEST_F(ReplayCliRunTest, FailuresAreExitOneWithFileAndOffset) {
  // A path that does not exist is bad usage.
  ProcessResult missing = Cli({"replay", tmp() + "/no-such-run"});
  EXPECT_EQ(missing.exit_code, 2) << missing.describe();
  EXPECT_NE(missing.err.find("no-such-run"), std::string::npos) << missing.err;
  ProcessResult missing_sum = Cli({"summary", tmp() + "/no-such-run"});
  EXPECT_EQ(missing_sum.exit_code, 2);

  // A flipped bit in stdout's third line, with valid lines after it.
  const std::string file = run_dir("t1", "b") + "/stdout.jsonl";
  std::vector<std::string> lines = ReadLines(file);
  const std::size_t offset = lines[0].size() + lines[1].size();
  lines[2][30] ^= 0x01;
  std::string content;
  for (auto& l : lines) content += l;
  ASSERT_TRUE(WriteFile(file, content));
  for (const char* cmd : {"replay", "summary"}) {
    ProcessResult r = Cli({cmd, root()});
    EXPECT_EQ(r.exit_code, 1) << cmd << " " << r.describe();
    EXPECT_NE(r.err.find(file + ":" + std::to_string(offset) + ": "), std::string::npos) << r.err;
    // The other runs are still printed.
    EXPECT_NE(r.out.find("\"runId\":\"a\""), std::string::npos) << cmd;
  }
}

}  // namespace
}  // namespace runlog::testing
