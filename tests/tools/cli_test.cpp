// tests/tools/cli_test.cpp — the real `runlog` binary and the embedding
// example, run as processes: exit statuses, the one JSON line of
// `runlog demo`, and the run folders they leave behind.
#include <simdjson.h>

#include <gtest/gtest.h>

#include <ostream>

#include <string>
#include <vector>

#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

TEST(CliTest, HelpExitsZero) {
  ProcessResult r = RunCli({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  EXPECT_NE(r.out.find("demo"), std::string::npos) << r.out;
}

TEST(CliTest, DemoHelpExitsZeroAndMentionsWorkload) {
  ProcessResult r = RunCli({"demo", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  EXPECT_NE(r.out.find("--workload"), std::string::npos) << r.out;
}

TEST(CliTest, UnknownWorkloadIsBadUsage) {
  TempDir tmp("runlog-cli");
  ProcessResult r = RunCli({"demo", "--workload", "W9", "--runs-root", tmp / "runs", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.describe() << "\n" << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(r.err.empty());
}

TEST(CliTest, VersionIsCMakes) {
  ProcessResult r = RunCli({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  EXPECT_EQ(r.out.rfind(std::string("runlog ") + RUNLOG_PROJECT_VERSION + " (crc32c: ", 0), 0u) << r.out;
}

TEST(CliTest, UnknownCommandIsBadUsage) {
  ProcessResult r = RunCli({"nope"});
  EXPECT_EQ(r.exit_code, 2) << r.describe() << "\n" << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliTest, NoCommandIsBadUsage) {
  ProcessResult r = RunCli({});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
}

// ------------------------------------------------------------------- demo

struct DemoCase {
  const char* name;
  std::vector<std::string> args;
  const char* workload;
  const char* durability;
  std::uint64_t min_records;
  std::size_t runs;
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const DemoCase& c, std::ostream* os) { *os << c.name; }

class CliDemoTest : public ::testing::TestWithParam<DemoCase> {};

TEST_P(CliDemoTest, PrintsOneJsonLineAndWritesValidRuns) {
  const DemoCase& c = GetParam();
  TempDir tmp("runlog-cli");
  const std::string root = tmp / "runs";
  std::vector<std::string> args = {"demo", "--runs-root", root, "--quiet"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  ProcessResult r = RunCli(args);
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;

  // stdout: exactly one JSON line, with exactly these keys in this order.
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "more than one line: " << r.out;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(r.out);
  simdjson::dom::object obj;
  ASSERT_EQ(parser.parse(padded).get_object().get(obj), simdjson::SUCCESS) << r.out;
  std::vector<std::string> keys;
  for (auto field : obj) keys.emplace_back(field.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"workload", "durability", "records", "bytes", "seconds", "recordsPerSec",
                                            "mbPerSec", "batches", "fsyncs", "ackP50Us", "ackP99Us", "peakRssBytes"}));
  std::string_view workload, durability;
  std::uint64_t records = 0, fsyncs = 0, bytes = 0;
  ASSERT_EQ(obj["workload"].get_string().get(workload), simdjson::SUCCESS);
  ASSERT_EQ(obj["durability"].get_string().get(durability), simdjson::SUCCESS);
  ASSERT_EQ(obj["records"].get_uint64().get(records), simdjson::SUCCESS);
  ASSERT_EQ(obj["fsyncs"].get_uint64().get(fsyncs), simdjson::SUCCESS);
  ASSERT_EQ(obj["bytes"].get_uint64().get(bytes), simdjson::SUCCESS);
  EXPECT_EQ(workload, c.workload);
  EXPECT_EQ(durability, c.durability);
  EXPECT_GE(records, c.min_records);
  if (std::string_view(c.durability) == "none") {
    EXPECT_EQ(fsyncs, 0u);
  } else {
    EXPECT_GT(fsyncs, 0u);
  }

  // The run folders: one task folder, the workload's number of runs, each
  // gap-free with valid lines, completed; together they hold every record.
  std::vector<std::string> tasks = ListDir(root);
  ASSERT_EQ(tasks.size(), 1u);
  const std::string task_dir = root + "/" + tasks[0];
  std::vector<std::string> runs = ListDir(task_dir);
  EXPECT_EQ(runs.size(), c.runs);
  std::uint64_t total = 0, total_bytes = 0;
  for (const std::string& run : runs) {
    SCOPED_TRACE(run);
    const std::string dir = task_dir + "/" + run;
    std::uint64_t last = 0;
    ASSERT_TRUE(CheckRun(dir, &last));
    total += last;
    for (const char* f : kChannelFiles) total_bytes += ReadFile(dir + "/" + f).value_or("").size();
    StateFile st = ReadState(dir);
    ASSERT_TRUE(st.ok) << st.error;
    EXPECT_EQ(st.status, "completed");
    EXPECT_EQ(st.exitCode, 0);
    EXPECT_EQ(st.lastEventSeq, last);
    EXPECT_EQ(ReadDurableSeq(dir), last);
  }
  EXPECT_EQ(total, records) << "the JSON line's records disagree with the files";
  EXPECT_EQ(total_bytes, bytes) << "the JSON line's bytes disagree with the files";
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, CliDemoTest,
    ::testing::Values(
        DemoCase{"W1_none", {"--workload", "W1", "--records", "20000", "--durability", "none"}, "W1", "none", 20000, 16},
        DemoCase{"W1_batch", {"--workload", "W1", "--records", "20000", "--durability", "batch"}, "W1", "batch", 20000, 16},
        DemoCase{"W3_batch", {"--workload", "W3", "--records", "20000"}, "W3", "batch", 20000, 256},
        // Every group commit one syncfs, offered at a fixed rate; and never one.
        DemoCase{"W1_batch_paced_syncfs",
                 {"--workload", "W1", "--records", "20000", "--rate", "200000", "--syncfs-files", "1"}, "W1", "batch",
                 20000, 16},
        DemoCase{"W3_batch_fdatasync_each", {"--workload", "W3", "--records", "3000", "--syncfs-files", "0"}, "W3",
                 "batch", 3000, 256},
        DemoCase{"W4_batch", {"--workload", "W4", "--seconds", "0.5"}, "W4", "batch", 1, 64}),
    [](const ::testing::TestParamInfo<DemoCase>& p) { return std::string(p.param.name); });

TEST(CliTest, DemoRefusesARateThatIsNotAboveZero) {
  TempDir tmp("runlog-cli");
  ProcessResult r = RunCli({"demo", "--runs-root", tmp / "runs", "--rate", "0", "--quiet"});
  EXPECT_EQ(r.exit_code, 2) << r.describe() << "\n" << r.err;
  EXPECT_NE(r.err.find("--rate"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- example

TEST(EmbedExampleTest, RunsAndLeavesACompletedGapFreeRun) {
  TempDir tmp("runlog-embed");
  const std::string root = tmp / "runs";
  ProcessResult r = RunProcess({RUNLOG_EXAMPLE_PATH, root}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(r.out);
  simdjson::dom::object obj;
  ASSERT_EQ(parser.parse(padded).get_object().get(obj), simdjson::SUCCESS) << r.out;
  std::string_view status;
  std::uint64_t last = 0;
  ASSERT_EQ(obj["status"].get_string().get(status), simdjson::SUCCESS) << r.out;
  ASSERT_EQ(obj["lastSeq"].get_uint64().get(last), simdjson::SUCCESS) << r.out;
  EXPECT_EQ(status, "completed");
  EXPECT_EQ(last, 104u);

  const std::string dir = RunDir(root, "example", "run-1");
  std::uint64_t on_disk = 0;
  ASSERT_TRUE(CheckRun(dir, &on_disk));
  EXPECT_EQ(on_disk, 104u);
  EXPECT_EQ(ReadState(dir).status, "completed");
  std::vector<Record> err = ParseFile(dir, "stderr.jsonl");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].raw, "warning: \xff not UTF-8\n");
  EXPECT_EQ(err[0].text, "warning: \xEF\xBF\xBD not UTF-8\n");
}

}  // namespace
}  // namespace runlog::testing
