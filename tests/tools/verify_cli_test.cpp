// tests/tools/verify_cli_test.cpp — `runlog verify` as a process: exit
// statuses, `file:offset: what` lines on stdout, the summary on stderr, and
// --repair on runs that `runlog demo` wrote.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from < s.size()) {
    std::size_t nl = s.find('\n', from);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(from, nl - from));
    from = nl + 1;
  }
  return out;
}

// Splits `file:offset: what` at the first `:<digits>: `.
struct ProblemLine {
  std::string file, offset, what;
};
bool ParseProblem(const std::string& line, ProblemLine* out) {
  for (std::size_t colon = line.find(':'); colon != std::string::npos; colon = line.find(':', colon + 1)) {
    std::size_t end = colon + 1;
    while (end < line.size() && line[end] >= '0' && line[end] <= '9') ++end;
    if (end > colon + 1 && line.compare(end, 2, ": ") == 0) {
      *out = {line.substr(0, colon), line.substr(colon + 1, end - colon - 1), line.substr(end + 2)};
      return true;
    }
  }
  return false;
}

// A runs root that `runlog demo` filled with 16 closed runs; their folders.
class VerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult r = RunCli({"demo", "--runs-root", root(), "--records", "20000", "--quiet"});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
    std::vector<std::string> tasks = ListDir(root());
    ASSERT_EQ(tasks.size(), 1u);
    for (const std::string& run : ListDir(root() + "/" + tasks[0])) runs_.push_back(root() + "/" + tasks[0] + "/" + run);
    ASSERT_EQ(runs_.size(), 16u);
  }
  std::string root() const { return tmp_ / "runs"; }

  TempDir tmp_{"runlog-verify-cli"};
  std::vector<std::string> runs_;
};

TEST(VerifyCliUsageTest, HelpExplainsEveryOption) {
  ProcessResult r = RunCli({"verify", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  for (const char* word : {"--repair", "--quiet", "PATH", "file:offset: what", "Exit status"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " not in:\n" << r.out;
  ProcessResult top = RunCli({"--help"});
  EXPECT_NE(top.out.find("verify"), std::string::npos) << top.out;
}

TEST(VerifyCliUsageTest, BadUsageExitsTwo) {
  TempDir tmp("runlog-verify-cli");
  EXPECT_EQ(RunCli({"verify"}).exit_code, 2);
  EXPECT_EQ(RunCli({"verify", "--nope", tmp.path()}).exit_code, 2);
  ProcessResult missing = RunCli({"verify", tmp / "missing"});
  EXPECT_EQ(missing.exit_code, 2) << missing.describe();
  EXPECT_TRUE(missing.out.empty()) << missing.out;
  EXPECT_NE(missing.err.find("missing"), std::string::npos) << missing.err;
}

TEST_F(VerifyCliTest, DemoRunsAreCleanWithASummaryOnStderr) {
  ProcessResult r = RunCli({"verify", root()});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.out << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("16 runs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("20048 records"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("clean"), std::string::npos) << r.err;
  ProcessResult quiet = RunCli({"verify", "--quiet", root()});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_TRUE(quiet.err.empty()) << quiet.err;
}

TEST_F(VerifyCliTest, OneLinePerProblemOnStdout) {
  // A torn tail in one run, a flipped bit in the middle of another.
  const std::string torn = runs_[3] + "/stdout.jsonl";
  const std::string flipped = runs_[9] + "/stdout.jsonl";
  std::string a = ReadFile(torn).value_or("");
  const std::size_t torn_at = a.size();
  ASSERT_TRUE(WriteFile(torn, a + "{\"seq\":99"));
  std::string b = ReadFile(flipped).value_or("");
  const std::size_t line = b.find('\n', b.size() / 2) + 1;
  b[line + 25] ^= 0x10;
  ASSERT_TRUE(WriteFile(flipped, b));

  ProcessResult r = RunCli({"verify", root()});
  EXPECT_EQ(r.exit_code, 1) << r.describe() << "\n" << r.err;
  std::vector<std::string> lines = SplitLines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  ProblemLine p;
  ASSERT_TRUE(ParseProblem(lines[0], &p)) << lines[0];
  EXPECT_EQ(p.file, torn);
  EXPECT_EQ(p.offset, std::to_string(torn_at));
  EXPECT_EQ(p.what, "torn tail (9 bytes), run `runlog verify --repair`");
  ASSERT_TRUE(ParseProblem(lines[1], &p)) << lines[1];
  EXPECT_EQ(p.file, flipped);
  EXPECT_EQ(p.offset, std::to_string(line));
  EXPECT_NE(r.err.find("2 problems"), std::string::npos) << r.err;
}

TEST_F(VerifyCliTest, RepairCutsATornTailThenVerifyIsClean) {
  const std::string path = runs_[5] + "/stderr.jsonl";
  const std::string before = ReadFile(path).value_or("");
  ASSERT_TRUE(WriteFile(path, before + std::string(37, '\0')));
  ProcessResult r = RunCli({"verify", "--repair", root()});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.out << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(path + ": cut 37 bytes at offset " + std::to_string(before.size()) + " (torn tail)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(ReadFile(path).value_or(""), before);
  EXPECT_EQ(RunCli({"verify", root()}).exit_code, 0);
}

TEST_F(VerifyCliTest, RepairRefusesMidFileCorruption) {
  const std::string path = runs_[0] + "/stdout.jsonl";
  std::string bytes = ReadFile(path).value_or("");
  bytes[bytes.find('\n') + 40] ^= 0x01;  // the second line
  ASSERT_TRUE(WriteFile(path, bytes));
  ProcessResult r = RunCli({"verify", "--repair", root()});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.out.find("bad crc"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("not repaired"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(path).value_or(""), bytes);
}

}  // namespace
}  // namespace runlog::testing
