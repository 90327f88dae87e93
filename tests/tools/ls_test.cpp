// tests/tools/ls_test.cpp — `runlog ls` as a process over a runs root with
// runs in every state: completed, failed, running (closed without a final
// event) and live (held open by an engine in this process).
#include <simdjson.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "support/engine_fixture.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace std::chrono_literals;

class LsTest : public EngineTestBase {
 protected:
  // A run with `stdout_records` chunks after worker_started and `final` (if any).
  void MakeRun(Engine& engine, std::string_view task, std::string_view run_id, int stdout_records,
               std::optional<EventType> final, bool close = true) {
    runlog::Run run = OpenRun(engine, task, run_id);
    Producer p(engine);
    ASSERT_TRUE(p.push_event(run, {EventType::worker_started, LogLevel::info, "started", ""}).ok());
    for (int i = 0; i < stdout_records; ++i) {
      ASSERT_TRUE(p.push_stdout(run, "line\n").ok());
    }
    if (final) {
      ASSERT_TRUE(p.push_event(run, {*final, LogLevel::info, "end", ""}).ok());
    }
    ASSERT_TRUE(run.flush().ok());
    if (close) {
      ASSERT_TRUE(run.close().ok());
    } else {
      RunStatePatch patch;  // returns once state.json is written, so it says "running" by then
      patch.summary = "still going";
      ASSERT_TRUE(run.patch_state(patch).ok());
    }
  }
};

TEST_F(LsTest, ListsStatusesAndCountsAsTableAndJson) {
  auto engine = OpenEngine(MakeOptions());
  ASSERT_NE(engine, nullptr);
  MakeRun(*engine, "build", "a-done", 3, EventType::step_completed);
  MakeRun(*engine, "build", "b-failed", 5, EventType::step_failed);
  MakeRun(*engine, "test", "c-running", 2, std::nullopt);
  MakeRun(*engine, "test", "d-live", 4, std::nullopt, /*close=*/false);  // held open while ls runs

  ProcessResult table = RunCli({"ls", root()});
  ASSERT_EQ(table.exit_code, 0) << table.describe() << "\n" << table.err;
  std::vector<std::string> lines;
  for (std::size_t from = 0, nl; (nl = table.out.find('\n', from)) != std::string::npos; from = nl + 1)
    lines.push_back(table.out.substr(from, nl - from));
  ASSERT_EQ(lines.size(), 5u) << table.out;
  EXPECT_EQ(lines[0].rfind("TASK", 0), 0u) << lines[0];
  for (const char* col : {"RUN", "STATUS", "ENTRIES", "BYTES", "STARTED", "DURATION"})
    EXPECT_NE(lines[0].find(col), std::string::npos) << col;
  auto expect_row = [&](std::size_t i, const char* run, const char* status, const char* entries) {
    EXPECT_NE(lines[i].find(run), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find(status), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find(std::string(" ") + entries + " "), std::string::npos) << lines[i];
  };
  expect_row(1, "a-done", "completed", "5");
  expect_row(2, "b-failed", "failed", "7");
  expect_row(3, "c-running", "running (abandoned)", "3");  // closed without a final event: no writer will end it
  expect_row(4, "d-live", "running (live)", "5");
  EXPECT_EQ(lines[4].find("abandoned"), std::string::npos) << lines[4];
  // Aligned: every row's STATUS starts under the header's.
  const std::size_t status_col = lines[0].find("STATUS");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i][status_col - 1], ' ') << lines[i];
    EXPECT_NE(lines[i][status_col], ' ') << lines[i];
  }

  ProcessResult json = RunCli({"ls", root(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.describe() << "\n" << json.err;
  struct Want {
    const char* task;
    const char* status;
    std::uint64_t entries;
    bool live;
    bool abandoned;
  };
  std::map<std::string, Want> want = {{"a-done", {"build", "completed", 5, false, false}},
                                      {"b-failed", {"build", "failed", 7, false, false}},
                                      {"c-running", {"test", "running", 3, false, true}},
                                      {"d-live", {"test", "running", 5, true, false}}};
  simdjson::dom::parser parser;
  std::size_t rows = 0;
  for (std::size_t from = 0, nl; (nl = json.out.find('\n', from)) != std::string::npos; from = nl + 1) {
    const std::string line = json.out.substr(from, nl - from);
    simdjson::dom::object obj;
    ASSERT_EQ(parser.parse(line).get_object().get(obj), simdjson::SUCCESS) << line;
    std::vector<std::string> keys;
    for (auto kv : obj) keys.emplace_back(kv.key);
    EXPECT_EQ(keys, (std::vector<std::string>{"taskId", "runId", "status", "entries", "bytes", "startedAt",
                                              "durationSeconds", "live", "abandoned"}))
        << line;
    std::string_view run_id, task, status, started;
    ASSERT_EQ(obj["runId"].get_string().get(run_id), simdjson::SUCCESS);
    ASSERT_EQ(want.count(std::string(run_id)), 1u) << line;
    const Want& w = want[std::string(run_id)];
    EXPECT_EQ(obj["taskId"].get_string().get(task), simdjson::SUCCESS);
    EXPECT_EQ(task, w.task);
    EXPECT_EQ(obj["status"].get_string().get(status), simdjson::SUCCESS);
    EXPECT_EQ(status, w.status) << line;
    EXPECT_EQ(obj["entries"].get_uint64().value_unsafe(), w.entries) << line;
    EXPECT_EQ(obj["live"].get_bool().value_unsafe(), w.live) << line;
    EXPECT_EQ(obj["abandoned"].get_bool().value_unsafe(), w.abandoned) << line;
    EXPECT_GT(obj["bytes"].get_uint64().value_unsafe(), 0u);
    EXPECT_EQ(obj["startedAt"].get_string().get(started), simdjson::SUCCESS);
    EXPECT_TRUE(IsIsoMillis(started)) << line;
    EXPECT_GE(obj["durationSeconds"].get_double().value_unsafe(), 0.0) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 4u) << json.out;
}

TEST_F(LsTest, EmptyRootListsNothingAndAMissingOneIsBadUsage) {
  ASSERT_EQ(::mkdir(root().c_str(), 0700), 0);
  ProcessResult empty = RunCli({"ls", root()});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_TRUE(empty.out.empty()) << empty.out;
  ProcessResult missing = RunCli({"ls", tmp() + "/nope"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  EXPECT_FALSE(missing.err.empty());
}

TEST(LsUsageTest, HelpAndBadUsage) {
  ProcessResult help = RunCli({"ls", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"ROOT", "--json", "durationSeconds", "live"})
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  EXPECT_EQ(RunCli({"ls", "--bogus"}).exit_code, 2);
  EXPECT_EQ(RunCli({"ls", "a", "b"}).exit_code, 2);
}

}  // namespace
}  // namespace runlog::testing
