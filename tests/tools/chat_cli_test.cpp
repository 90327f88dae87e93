// tests/tools/chat_cli_test.cpp — `runlog chat append|reconcile`, and replay,
// summary and verify on conversation folders: the real binary on real files.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

class ChatCliTest : public ::testing::Test {
 protected:
  std::string root() const { return tmp_ / "convs"; }
  // `runlog chat append` with `input` on stdin.
  ProcessResult Append(const std::string& id, const std::string& input) {
    const std::string in = tmp_ / ("in-" + id + std::to_string(++n_));
    EXPECT_TRUE(WriteFile(in, input));
    return RunProcess({"/bin/sh", "-c",
                       std::string("exec \"$0\" chat append --conversations-root \"$1\" --id \"$2\" < \"$3\""),
                       RUNLOG_CLI_PATH, root(), id, in});
  }
  TempDir tmp_{"runlog-chat-cli"};
  int n_ = 0;
};

TEST_F(ChatCliTest, AppendReplayReconcileSummaryVerify) {
  ProcessResult a = Append("c1",
                           "{\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"h\xC3\xA9\"}}\n"
                           R"({"role":"assistant","chunk":{"type":"tool-call","toolCallId":"k1","toolName":"ls","input":{"p":["/"]}}})"
                           "\n"
                           R"({"role":"assistant","chunk":{"type":"text","text":"x"}})"
                           "\n");
  ASSERT_EQ(a.exit_code, 0) << a.describe() << a.err;
  EXPECT_EQ(a.out, "{\"lastSeq\":3,\"durableSeq\":3}\n");

  ProcessResult r = RunCli({"replay", root() + "/c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"seq\":1,\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"h\xC3\xA9\"}}\n"
            R"({"seq":2,"role":"assistant","chunk":{"type":"tool-call","toolCallId":"k1","toolName":"ls","input":{"p":["/"]}}})"
            "\n"
            R"({"seq":3,"role":"assistant","chunk":{"type":"text","text":"x"}})"
            "\n");

  ProcessResult rec = RunCli({"chat", "reconcile", "--conversations-root", root(), "--id", "c1"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_EQ(rec.out, "{\"appended\":1,\"lastSeq\":4}\n");
  rec = RunCli({"chat", "reconcile", "--conversations-root", root(), "--id", "c1"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_EQ(rec.out, "{\"appended\":0,\"lastSeq\":4}\n");

  ProcessResult m = RunCli({"replay", root() + "/c1", "--after", "1", "--format", "messages"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(m.out,
            R"({"role":"assistant","chunks":[{"type":"tool-call","toolCallId":"k1","toolName":"ls","input":{"p":["/"]}},{"type":"text","text":"x"}]})"
            "\n"
            R"({"role":"tool","chunks":[{"type":"tool-result","toolCallId":"k1","toolName":"ls","content":"interrupted: the tool-call got no result before the conversation was reopened or reconciled","isError":true}]})"
            "\n");

  ProcessResult s = RunCli({"summary", root() + "/c1"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.out,
            R"({"conversationId":"c1","totalEntries":4,"lastSeq":4,"roles":{"assistant":2,"tool":1,"user":1},"types":{"text":2,"tool-call":1,"tool-result":1},"openToolCalls":0,"live":false,"durableSeq":4})"
            "\n");

  // A conversations root: summary has one line per conversation; replay wants one.
  ASSERT_EQ(Append("c0", R"({"role":"user","chunk":{"type":"text","text":"x"}})" "\n").exit_code, 0);
  s = RunCli({"summary", root()});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.out.find(R"({"conversationId":"c0","totalEntries":1,)"), 0u) << s.out;
  EXPECT_NE(s.out.find("\n{\"conversationId\":\"c1\",\"totalEntries\":4,"), std::string::npos) << s.out;
  EXPECT_EQ(RunCli({"replay", root()}).exit_code, 2);

  ProcessResult ls = RunCli({"ls", root(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(R"({"conversationId":"c1","entries":4,"bytes":)"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find(R"("live":false})"), std::string::npos) << ls.out;
  ls = RunCli({"ls", root()});
  EXPECT_NE(ls.out.find("CONVERSATION"), std::string::npos) << ls.out;

  ProcessResult v = RunCli({"verify", root()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.err.find("2 conversations"), std::string::npos) << v.err;
}

// A bad line stops the append: its number on stderr, exit 1, nothing from it on.
TEST_F(ChatCliTest, ABadLineStopsTheAppendAndNamesTheLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"role":"bot","chunk":{"type":"text","text":"x"}})", "role \"bot\""},
      {R"({"role":"user","chunk":{"type":"video","text":"x"}})", "unknown type \"video\""},
      {R"({"role":"tool","chunk":{"type":"tool-result","toolName":"t","content":"c","isError":false}})", "missing \"toolCallId\""},
      {R"({"role":"tool","chunk":{"type":"tool-result","toolCallId":"a","toolName":"t","content":"c","isError":1}})", "\"isError\" must be a boolean"},
      {"not json", "not JSON"},
  };
  int i = 0;
  for (const auto& [line, why] : bad) {
    const std::string id = "bad" + std::to_string(i++);
    ProcessResult a = Append(id, R"({"role":"user","chunk":{"type":"text","text":"ok"}})"
                                 "\n" + line + "\n" + R"({"role":"user","chunk":{"type":"text","text":"never"}})" "\n");
    EXPECT_EQ(a.exit_code, 1) << line;
    EXPECT_NE(a.err.find("stdin line 2"), std::string::npos) << a.err;
    EXPECT_NE(a.err.find(why), std::string::npos) << a.err;
    EXPECT_EQ(a.out, "{\"lastSeq\":1,\"durableSeq\":1}\n");
    ProcessResult r = RunCli({"replay", root() + "/" + id});
    EXPECT_EQ(r.out, "{\"seq\":1,\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"ok\"}}\n");
  }
}

TEST_F(ChatCliTest, BadUsageExitsTwo) {
  EXPECT_EQ(RunCli({"chat"}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "append", "--id", "x"}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "append", "--conversations-root", root()}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "frobnicate", "--conversations-root", root(), "--id", "x"}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "reconcile", "--conversations-root", root(), "--id", "../x"}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "append", "--conversations-root", root(), "--id", "x", "--turn", "t"}).exit_code, 2);
  EXPECT_EQ(RunCli({"chat", "reconcile", "--conversations-root", root(), "--id", "x", "--turn", "t", "--events", "f"}).exit_code, 2);
  ProcessResult h = RunCli({"chat", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("runlog chat append"), std::string::npos);
  ASSERT_EQ(Append("u", R"({"role":"user","chunk":{"type":"text","text":"x"}})" "\n").exit_code, 0);
  EXPECT_EQ(RunCli({"replay", root() + "/u", "--format", "text"}).exit_code, 2);
  EXPECT_EQ(RunCli({"replay", root() + "/u", "--follow"}).exit_code, 2);
}

}  // namespace
}  // namespace runlog::testing
