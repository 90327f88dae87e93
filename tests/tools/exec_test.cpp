// tests/tools/exec_test.cpp — `runlog exec` and runlog/capture.h with real
// child processes (tests/tools/child_helper.cpp and shell snippets): what
// lands in the run, byte for byte, what passes through, how the child ended,
// signals, descriptor leaks and bad input.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runlog/engine.h"
#include "support/process.h"
#include "support/run_files.h"
#include "runlog/capture.h"

extern char** environ;

namespace runlog::testing {
namespace {

const std::string kHelper = RUNLOG_CHILD_HELPER_PATH;

/// `runlog exec --runs-root ROOT --task t --run RUN [extra] -- CMD...`
ProcessResult Exec(const TempDir& tmp, const std::string& run, std::vector<std::string> cmd,
                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"exec", "--runs-root", tmp / "runs", "--task", "t", "--run", run};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");
  args.insert(args.end(), cmd.begin(), cmd.end());
  return RunCli(args);
}

/// The exact bytes of one channel: `runlog replay --format raw --channel CH`.
std::string Raw(const TempDir& tmp, const std::string& run, const std::string& channel) {
  ProcessResult r = RunCli({"replay", tmp / "runs" + "/t/" + run, "--format", "raw", "--channel", channel});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  return r.out;
}

std::string Dir(const TempDir& tmp, const std::string& run) { return RunDir(tmp / "runs", "t", run); }

std::vector<Record> Events(const TempDir& tmp, const std::string& run) {
  return ParseFile(Dir(tmp, run), "worker.jsonl");
}

std::vector<std::string> EventTypes(const TempDir& tmp, const std::string& run) {
  std::vector<std::string> out;
  for (const Record& r : Events(tmp, run)) out.push_back(r.type);
  return out;
}

void ExpectVerifies(const TempDir& tmp) {
  ProcessResult v = RunCli({"verify", tmp / "runs"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST(ExecTest, InterleavedOutputIsKeptPerChannelAndPassedThroughByteForByte) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "interleave", "300"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  std::string want_out, want_err;
  for (int i = 0; i < 300; ++i) {
    want_out += "o" + std::to_string(i) + "\n";
    want_err += "e" + std::to_string(i) + "\n";
  }
  EXPECT_EQ(r.out, want_out);  // the pass-through
  EXPECT_EQ(r.err, want_err);
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), want_out);
  EXPECT_EQ(Raw(tmp, "r1", "stderr"), want_err);
  std::uint64_t last = 0;
  EXPECT_TRUE(CheckRun(Dir(tmp, "r1"), &last));
  EXPECT_EQ(EventTypes(tmp, "r1"),
            (std::vector<std::string>{"run_prepared", "worker_started", "worker_exited", "step_completed"}));
  // worker_started comes before every chunk, worker_exited after every chunk.
  std::vector<Record> all = ParseRun(Dir(tmp, "r1"));
  std::uint64_t started = 0, exited = 0, min_chunk = ~0ull, max_chunk = 0;
  for (const Record& rec : all) {
    if (rec.type == "worker_started") started = rec.seq;
    if (rec.type == "worker_exited") exited = rec.seq;
    if (rec.channel != "worker") {
      min_chunk = std::min(min_chunk, rec.seq);
      max_chunk = std::max(max_chunk, rec.seq);
    }
  }
  EXPECT_LT(started, min_chunk);
  EXPECT_GT(exited, max_chunk);
  StateFile st = ReadState(Dir(tmp, "r1"));
  ASSERT_TRUE(st.ok) << st.error;
  EXPECT_EQ(st.status, "completed");
  EXPECT_EQ(st.exitCode, 0);
  EXPECT_TRUE(st.finishedAt.has_value());
  EXPECT_EQ(st.lastEventSeq, last);
  EXPECT_EQ(ReadDurableSeq(Dir(tmp, "r1")), last);
}

TEST(ExecTest, InvalidUtf8AndACharacterSplitAcrossWritesSurvive) {
  TempDir tmp("runlog-exec");
  // 0xff alone; then the euro sign e2 82 ac split over two writes 50 ms apart.
  ProcessResult r = Exec(tmp, "r1", {kHelper, "outhex", "41ff42", "sleep", "50", "outhex", "e282", "sleep", "50",
                                     "outhex", "ac0a", "errhex", "c328"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  const std::string want = std::string("A\xff" "B\xe2\x82\xac\n");
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), want);
  EXPECT_EQ(Raw(tmp, "r1", "stderr"), "\xc3(");
  std::string text;
  for (const Record& rec : ParseFile(Dir(tmp, "r1"), "stdout.jsonl")) text += rec.text;
  EXPECT_EQ(text, "A\xef\xbf\xbd" "B\xe2\x82\xac\n");  // U+FFFD for 0xff, the euro sign whole
  EXPECT_TRUE(CheckRun(Dir(tmp, "r1")));
}

TEST(ExecTest, BurstsTinyWritesAndNoFinalNewline) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "tiny", "5000", "burst", "8", "out", "no newline at the end"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  std::string raw = Raw(tmp, "r1", "stdout");
  EXPECT_EQ(raw.size(), 5000u + (8u << 20) + 21u);
  EXPECT_EQ(raw, r.out);
  EXPECT_EQ(raw.substr(0, 3), "abc");
  EXPECT_EQ(raw.substr(raw.size() - 21), "no newline at the end");
  EXPECT_TRUE(CheckRun(Dir(tmp, "r1")));
}

TEST(ExecTest, AHundredMegabyteSingleLineIsKeptWhole) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "bigline", "100"}, {"--quiet", "--durability", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << "\n" << r.err;
  EXPECT_TRUE(r.out.empty());
  std::string raw = Raw(tmp, "r1", "stdout");
  ASSERT_EQ(raw.size(), (std::size_t{100} << 20) + 1);
  bool same = raw.back() == '\n';
  for (std::size_t i = 0; same && i + 1 < raw.size(); ++i) same = raw[i] == static_cast<char>('a' + (i % (1 << 20)) % 26);
  EXPECT_TRUE(same);
  ExpectVerifies(tmp);
}

TEST(ExecTest, ExitCodeIsRunlogsAndTheRunFails) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "out", "x", "exit", "3"});
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  StateFile st = ReadState(Dir(tmp, "r1"));
  EXPECT_EQ(st.status, "failed");
  EXPECT_EQ(st.exitCode, 3);
  EXPECT_TRUE(st.finishedAt.has_value());
  std::vector<Record> ev = Events(tmp, "r1");
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].data, R"({"exitCode":3})");
  EXPECT_EQ(ev[3].type, "step_failed");
  ExpectVerifies(tmp);
}

TEST(ExecTest, ASignalEndsTheChildWith128PlusIt) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "out", "before\n", "raise", "15"});
  EXPECT_EQ(r.exit_code, 128 + 15) << r.describe();
  std::vector<Record> ev = Events(tmp, "r1");
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].type, "worker_exited");
  EXPECT_EQ(ev[2].data, R"({"signal":"SIGTERM"})");
  EXPECT_EQ(ReadState(Dir(tmp, "r1")).status, "failed");
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), "before\n");
}

TEST(ExecTest, CommandNotFoundIs127AndAFailedRun) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {"runlog-no-such-command-here"});
  EXPECT_EQ(r.exit_code, 127) << r.describe();
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_EQ(EventTypes(tmp, "r1"), (std::vector<std::string>{"run_prepared", "worker_exited", "step_failed"}));
  std::vector<Record> ev = Events(tmp, "r1");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_NE(ev[1].message.find("not found"), std::string::npos) << ev[1].message;
  EXPECT_NE(ev[1].data.find("\"exitCode\":127"), std::string::npos) << ev[1].data;
  StateFile st = ReadState(Dir(tmp, "r1"));
  EXPECT_EQ(st.status, "failed");
  EXPECT_EQ(st.exitCode, 127);
  ExpectVerifies(tmp);
  // A path that exists but is not executable: 126.
  ASSERT_TRUE(WriteFile(tmp / "script", "echo hi\n"));
  ProcessResult r2 = Exec(tmp, "r2", {tmp / "script"});
  EXPECT_EQ(r2.exit_code, 126) << r2.describe() << r2.err;
}

TEST(ExecTest, OnlyStandardDescriptorsReachTheChild) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {kHelper, "fds"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << r.err;
  EXPECT_EQ(r.out, "0 1 2\n");
  ProcessResult p = Exec(tmp, "r2", {kHelper, "fds"}, {"--pty"});
  ASSERT_EQ(p.exit_code, 0) << p.describe() << p.err;
  EXPECT_EQ(p.out, "0 1 2\r\n");  // the terminal turns \n into \r\n, as a terminal does
}

TEST(ExecTest, PtyMakesTheChildSeeATerminal) {
  TempDir tmp("runlog-exec");
  ProcessResult r = Exec(tmp, "r1", {"sh", "-c", "test -t 1 && test -t 2 && echo on-a-tty; echo to-stderr >&2"},
                         {"--pty"});
  ASSERT_EQ(r.exit_code, 0) << r.describe() << r.err;
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), "on-a-tty\r\nto-stderr\r\n");
  EXPECT_EQ(Raw(tmp, "r1", "stderr"), "");
  ProcessResult p = Exec(tmp, "r2", {"sh", "-c", "test -t 1 || echo not-a-tty"});
  EXPECT_EQ(p.out, "not-a-tty\n");
}

// A child on a pty that reads its stdin gets runlog's stdin (a pipe, a file,
// /dev/null) and then end-of-file: it finishes, never waits on the terminal.
TEST(ExecTest, PtyChildReadingStdinGetsItThenEndOfFile) {
  TempDir tmp("runlog-exec");
  const std::string exec = std::string(RUNLOG_CLI_PATH) + " exec --pty --runs-root '" + tmp / "runs" + "' --task t ";
  const std::string child = " -- sh -c 'test -t 1 && read first && echo \"first=$first\" && cat && echo end'";
  ProcessResult null = RunProcess({"/bin/sh", "-c", exec + "--run r1" + child + " < /dev/null"}, std::chrono::seconds(30));
  ASSERT_FALSE(null.timed_out) << "a pty child reading stdin from /dev/null hung";
  // `read` fails at end-of-file: the && chain stops, with sh's exit status 1.
  EXPECT_EQ(null.exit_code, 1) << null.describe() << null.err;
  ProcessResult piped = RunProcess({"/bin/sh", "-c", "printf 'one\\ntwo\\nthree' | " + exec + "--run r2" + child},
                                   std::chrono::seconds(30));
  ASSERT_FALSE(piped.timed_out) << "a pty child reading stdin from a pipe hung";
  ASSERT_EQ(piped.exit_code, 0) << piped.describe() << piped.err;
  EXPECT_EQ(piped.out, "first=one\r\ntwo\r\nthreeend\r\n");
  EXPECT_EQ(Raw(tmp, "r2", "stdout"), "first=one\r\ntwo\r\nthreeend\r\n");
  ASSERT_TRUE(WriteFile(tmp / "in", "from a file\n"));
  ProcessResult file = RunProcess({"/bin/sh", "-c", exec + "--run r3 -- cat < '" + tmp / "in" + "'"},
                                  std::chrono::seconds(30));
  ASSERT_FALSE(file.timed_out) << "a pty child reading stdin from a file hung";
  ASSERT_EQ(file.exit_code, 0) << file.describe() << file.err;
  EXPECT_EQ(Raw(tmp, "r3", "stdout"), "from a file\r\n");
  ExpectVerifies(tmp);
}

TEST(ExecTest, HelpSaysHow) {
  for (const char* cmd : {"exec", "run"}) {
    ProcessResult r = RunCli({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Exit status"), std::string::npos) << r.out;
    EXPECT_NE(RunCli({"--help"}).out.find(cmd), std::string::npos) << cmd;
  }
}

TEST(ExecTest, StdinFromAFileReachesTheChild) {
  TempDir tmp("runlog-exec");
  ASSERT_TRUE(WriteFile(tmp / "in", "from stdin\n"));
  ProcessResult r = RunProcess({"/bin/sh", "-c", std::string(RUNLOG_CLI_PATH) + " exec --runs-root '" + tmp / "runs" +
                                                     "' --task t --run r1 -- cat < '" + tmp / "in" + "'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from stdin\n");
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), "from stdin\n");
}

TEST(ExecTest, ARefusedIdIsBadUsageAndCreatesNothing) {
  TempDir tmp("runlog-exec");
  ProcessResult r = RunCli({"exec", "--runs-root", tmp / "runs", "--task", "../escape", "--run", "r1", "--", "sh",
                            "-c", "touch " + tmp / "ran"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("taskId"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists(tmp / "runs"));
  EXPECT_FALSE(Exists(tmp / "ran"));
  EXPECT_EQ(RunCli({"exec", "--task", "t", "--run", "r"}).exit_code, 2);  // no command
  EXPECT_EQ(RunCli({"exec", "--run", "r", "--", "true"}).exit_code, 2);   // no task
  EXPECT_EQ(RunCli({"exec", "--bogus", "--task", "t", "--run", "r", "--", "true"}).exit_code, 2);
}

TEST(ExecTest, AnUnwritableRunsRootFailsBeforeTheChildStarts) {
  TempDir tmp("runlog-exec");
  ASSERT_TRUE(WriteFile(tmp / "file", "not a folder"));
  ProcessResult r = RunCli({"exec", "--runs-root", tmp / "file" + "/runs", "--task", "t", "--run", "r1", "--", "sh",
                            "-c", "touch " + tmp / "ran"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("runlog exec: cannot open"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists(tmp / "ran"));
}

TEST(ExecTest, AnExistingRunIsRefusedAndNothingInItChanges) {
  TempDir tmp("runlog-exec");
  ASSERT_EQ(Exec(tmp, "r1", {"true"}).exit_code, 0);
  const std::string dir = RunDir(tmp / "runs", "t", "r1");
  std::map<std::string, std::optional<std::string>> before;
  for (const char* f : {"state.json", "meta.json", "durable.seq", "worker.jsonl", "stdout.jsonl", "stderr.jsonl"})
    before[f] = ReadFile(dir + "/" + f);
  ASSERT_TRUE(before["state.json"].has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a rewrite would show a later updatedAt
  ProcessResult r = Exec(tmp, "r1", {"sh", "-c", "touch " + tmp / "ran"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("t/r1 already holds records (status completed)"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists(tmp / "ran"));
  for (const auto& [f, content] : before) EXPECT_EQ(ReadFile(dir + "/" + f), content) << f << " changed";
  EXPECT_EQ(EventTypes(tmp, "r1").size(), 4u);
}

// ------------------------------------------------------------------ signals

/// runlog started in the background, its stdout on a pipe.
struct Background {
  pid_t pid = -1;
  int out = -1;
  std::string seen;

  explicit Background(const std::vector<std::string>& argv) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(p[1]);
    out = p[0];
  }
  ~Background() {
    if (out >= 0) ::close(out);
  }
  /// Reads until `text` has been seen (or EOF).
  bool WaitFor(const std::string& text) {
    char buf[4096];
    while (seen.find(text) == std::string::npos) {
      ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) return false;
      seen.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads to EOF, then reaps; the exit code, or 1000 + the signal.
  int Finish() {
    WaitFor(std::string(1, '\0'));
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
  }
};

TEST(ExecTest, SigtermIsForwardedAndTheWayOutIsRecorded) {
  TempDir tmp("runlog-exec");
  int code = -1;
  ASSERT_TRUE(FinishesWithin(std::chrono::seconds(60), "SIGTERM forwarding", [&] {
    Background b({RUNLOG_CLI_PATH, "exec", "--runs-root", tmp / "runs", "--task", "t", "--run", "r1", "--", kHelper,
                  "wait-term", "exit", "7"});
    ASSERT_TRUE(b.WaitFor("ready\n"));
    ::kill(b.pid, SIGTERM);
    code = b.Finish();
    EXPECT_EQ(b.seen, "ready\nbye after SIGTERM\n");
  }));
  EXPECT_EQ(code, 7);
  EXPECT_EQ(Raw(tmp, "r1", "stdout"), "ready\nbye after SIGTERM\n");
  EXPECT_EQ(ReadState(Dir(tmp, "r1")).exitCode, 7);
  ExpectVerifies(tmp);
}

TEST(ExecTest, ASecondSigintKills) {
  TempDir tmp("runlog-exec");
  int code = -1;
  ASSERT_TRUE(FinishesWithin(std::chrono::seconds(60), "second SIGINT", [&] {
    Background b({RUNLOG_CLI_PATH, "exec", "--runs-root", tmp / "runs", "--task", "t", "--run", "r1", "--", kHelper,
                  "ignore-int", "wait"});
    ASSERT_TRUE(b.WaitFor("ready\n"));
    ::kill(b.pid, SIGINT);  // the child only prints "int"
    ASSERT_TRUE(b.WaitFor("int\n"));
    ::kill(b.pid, SIGINT);
    code = b.Finish();
  }));
  EXPECT_EQ(code, 128 + SIGKILL);
  std::vector<Record> ev = Events(tmp, "r1");
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].data, R"({"signal":"SIGKILL"})");
  ExpectVerifies(tmp);
}

// ------------------------------------------------------ in-process capture

// An engine with run t/r1 open and a producer, for capture_into_run.
struct CaptureRun {
  TempDir tmp{"runlog-capture"};
  std::unique_ptr<Engine> engine = [this] {
    Options o;
    o.runsRoot = tmp / "runs";
    return Engine::open(o).value();
  }();
  runlog::Run run = [this] {
    RunMetadata meta;
    meta.taskId = "t";
    meta.runId = "r1";
    return engine->open_run(meta).value();
  }();
  Producer producer{*engine};
};

TEST(CaptureTest, EngineDescriptorsDoNotLeakIntoTheChild) {
  CaptureRun c;
  CaptureOptions co;
  co.child.argv = {kHelper, "fds", "err", "done"};
  auto r = capture_into_run(co, c.run, c.producer);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->exit_status(), 0);
  EXPECT_GT(r->pid, 0);
  EXPECT_EQ(r->stdout_bytes, 6u);
  EXPECT_EQ(r->stderr_bytes, 4u);
  ASSERT_TRUE(c.run.close().ok());
  std::vector<Record> out = ParseFile(Dir(c.tmp, "r1"), "stdout.jsonl");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "0 1 2\n");
  // No zombie: the child was reaped.
  EXPECT_EQ(::waitpid(r->pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

// Pushes refused (here: the run closed as the child starts) stop the
// recording, not the capture: the rest of the child's 20 MB, far more than
// its pipe holds, is read away, so the child finishes and is reaped, and the
// refusal is what capture_into_run returns.
TEST(CaptureTest, RefusedPushesStopTheRecordingAndTheChildIsStillDrained) {
  CaptureRun c;
  CaptureOptions co;
  co.child.argv = {"/bin/sh", "-c", "head -c 20000000 /dev/zero; echo done >&2"};
  pid_t child = 0;
  co.on_started = [&](pid_t pid) {
    child = pid;
    return c.run.close();
  };
  auto r = capture_into_run(co, c.run, c.producer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::closed) << r.status().to_string();
  ASSERT_GT(child, 0);
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), -1) << "the child was not reaped";
  EXPECT_EQ(errno, ECHILD);
  std::vector<Record> out = ParseFile(Dir(c.tmp, "r1"), "stdout.jsonl");
  EXPECT_TRUE(out.empty());
}

TEST(CaptureTest, ChunksKeepTheBoundariesOfTheReads) {
  std::vector<std::pair<Channel, std::string>> got;
  CaptureOptions co;
  co.child.argv = {kHelper, "out", "one", "sleep", "100", "out", "two", "sleep", "100", "err", "three"};
  co.child.cwd = "/";
  auto r = capture(co, [&](Channel ch, std::string_view b) {
    got.emplace_back(ch, std::string(b));
    return Status::OK();
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_pair(Channel::stdout_, std::string("one")));
  EXPECT_EQ(got[1], std::make_pair(Channel::stdout_, std::string("two")));
  EXPECT_EQ(got[2], std::make_pair(Channel::stderr_, std::string("three")));
}

// When both pipes are ready, stdout is read first: a child that wrote to
// stdout and then to stderr is recorded in that order. on_started holds the
// reading back until the child has written both (and exited), so both pipes
// are ready at the first poll every time.
TEST(CaptureTest, StdoutIsReadBeforeStderrWhenBothAreReady) {
  for (int round = 0; round < 5; ++round) {
    std::vector<std::pair<Channel, std::string>> got;
    CaptureOptions co;
    co.child.argv = {"sh", "-c", "echo out; echo err >&2"};
    co.on_started = [](pid_t pid) {  // until the child has exited (a zombie, not reaped: WNOWAIT)
      siginfo_t info{};
      for (int i = 0; i < 1000 && info.si_pid != pid; ++i) {
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) break;
        if (info.si_pid != pid) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return Status::OK();
    };
    auto r = capture(co, [&](Channel ch, std::string_view b) {
      got.emplace_back(ch, std::string(b));
      return Status::OK();
    });
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], std::make_pair(Channel::stdout_, std::string("out\n"))) << "round " << round;
    EXPECT_EQ(got[1], std::make_pair(Channel::stderr_, std::string("err\n"))) << "round " << round;
  }
}

TEST(CaptureTest, PtyChildReadingStdinGetsEndOfFile) {
  std::string out;
  CaptureOptions co;
  co.child.argv = {"sh", "-c", "cat; echo done"};
  co.child.pty = true;  // inherit_stdin false: /dev/null
  std::optional<Result<CaptureResult>> r;
  ASSERT_TRUE(FinishesWithin(std::chrono::seconds(30), "a pty capture of a child reading stdin", [&] {
    r.emplace(capture(co, [&](Channel, std::string_view b) {
      out += b;
      return Status::OK();
    }));
  }));
  ASSERT_TRUE(r->ok()) << r->status().to_string();
  EXPECT_EQ(r->value().exit_status(), 0);
  EXPECT_EQ(out, "done\r\n");
}

// A pty child that exits at once is reported as it exited, not as killed by
// the SIGHUP that closing the terminal's master too early would send it.
TEST(CaptureTest, AQuickPtyChildIsNotHungUp) {
  for (int round = 0; round < 40; ++round) {
    std::string out;
    CaptureOptions co;
    co.child.argv = {"/bin/echo", "hi"};
    co.child.pty = true;
    auto r = capture(co, [&](Channel, std::string_view b) {
      out += b;
      return Status::OK();
    });
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->signal, 0) << "round " << round << ": killed by " << signal_name(r->signal);
    ASSERT_EQ(r->exit_code, 0) << "round " << round;
    EXPECT_EQ(out, "hi\r\n");
  }
}

TEST(CaptureTest, CwdAndEnvironmentReachTheChild) {
  std::string out;
  CaptureOptions co;
  co.child.argv = {"sh", "-c", "pwd; echo \"$RUNLOG_TEST_VAR\""};
  co.child.cwd = "/tmp";
  co.child.env = {{"RUNLOG_TEST_VAR", "hello there"}};
  auto r = capture(co, [&](Channel, std::string_view b) {
    out += b;
    return Status::OK();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out, "/tmp\nhello there\n");
  co.child.cwd = "/no/such/folder";
  auto bad = capture(co, [&](Channel, std::string_view) { return Status::OK(); });
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_status(), 127);
  EXPECT_NE(bad->error.find("/no/such/folder"), std::string::npos) << bad->error;
}

}  // namespace
}  // namespace runlog::testing

// ------------------------------------------------------------------ runlog run

namespace runlog::testing {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1) out.push_back(s.substr(start, nl - start));
  return out;
}

TEST(RunCommandTest, FailingJobsAreReportedAndExitOne) {
  TempDir tmp("runlog-run");
  std::string jobs;
  for (int i = 0; i < 6; ++i)
    jobs += "{\"taskId\":\"t\",\"runId\":\"ok" + std::to_string(i) + "\",\"command\":[\"" + kHelper +
            "\",\"interleave\",\"50\",\"outhex\",\"ff0a\"]}\n";
  jobs += "{\"taskId\":\"t\",\"runId\":\"exit4\",\"command\":[\"sh\",\"-c\",\"echo boom >&2; exit 4\"]}\n\n";
  jobs += "{\"taskId\":\"t\",\"runId\":\"missing\",\"command\":[\"runlog-no-such-command\"]}\n";
  jobs += "{\"taskId\":\"u\",\"runId\":\"env\",\"command\":[\"sh\",\"-c\",\"pwd; echo $JOB_VAR\"],\"cwd\":\"/\","
          "\"env\":{\"JOB_VAR\":\"from-the-job\"},\"stepName\":\"env check\"}\n";
  ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl", jobs));
  ProcessResult r = RunCli({"run", "--jobs", tmp / "jobs.jsonl", "--runs-root", tmp / "runs", "-j", "3"});
  EXPECT_EQ(r.exit_code, 1) << r.describe() << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 10u) << r.out;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(lines[i].rfind("{\"taskId\":\"t\",\"runId\":\"ok" + std::to_string(i) + "\",\"status\":\"completed\",\"exitCode\":0,", 0), 0u)
        << lines[i];
    std::string want;
    for (int k = 0; k < 50; ++k) want += "o" + std::to_string(k) + "\n";
    want += "\xff\n";
    EXPECT_EQ(ReadState(RunDir(tmp / "runs", "t", "ok" + std::to_string(i))).status, "completed");
    ProcessResult raw = RunCli({"replay", RunDir(tmp / "runs", "t", "ok" + std::to_string(i)), "--format", "raw",
                                "--channel", "stdout"});
    EXPECT_EQ(raw.out, want);
  }
  EXPECT_NE(lines[6].find("\"status\":\"failed\",\"exitCode\":4"), std::string::npos) << lines[6];
  EXPECT_NE(lines[7].find("\"status\":\"failed\",\"exitCode\":127"), std::string::npos) << lines[7];
  EXPECT_NE(lines[8].find("\"status\":\"completed\""), std::string::npos) << lines[8];
  EXPECT_EQ(lines[9].rfind("{\"summary\":{\"jobs\":9,\"completed\":7,\"failed\":2,\"skipped\":0,", 0), 0u) << lines[9];
  ProcessResult env = RunCli({"replay", RunDir(tmp / "runs", "u", "env"), "--format", "raw", "--channel", "stdout"});
  EXPECT_EQ(env.out, "/\nfrom-the-job\n");
  EXPECT_EQ(ReadState(RunDir(tmp / "runs", "t", "exit4")).exitCode, 4);
  ProcessResult v = RunCli({"verify", tmp / "runs"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST(RunCommandTest, SigtermReachesRunningJobsAndNoNewJobStarts) {
  TempDir tmp("runlog-run");
  ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl",
                        "{\"taskId\":\"t\",\"runId\":\"first\",\"command\":[\"" + kHelper + "\",\"wait-term\",\"exit\",\"7\"]}\n"
                        "{\"taskId\":\"t\",\"runId\":\"second\",\"command\":[\"true\"]}\n"));
  int code = -1;
  std::string out;
  ASSERT_TRUE(FinishesWithin(std::chrono::seconds(60), "runlog run and SIGTERM", [&] {
    Background b({RUNLOG_CLI_PATH, "run", "--jobs", tmp / "jobs.jsonl", "--runs-root", tmp / "runs", "-j", "1"});
    // The first job said "ready" once its stdout file holds it.
    const std::string file = RunDir(tmp / "runs", "t", "first") + "/stdout.jsonl";
    while (ReadFile(file).value_or("").find("ready") == std::string::npos)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(b.pid, SIGTERM);
    code = b.Finish();
    out = b.seen;
  }));
  EXPECT_EQ(code, 1);
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_NE(lines[0].find("\"status\":\"failed\",\"exitCode\":7"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"status\":\"skipped\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"skipped\":1"), std::string::npos) << lines[2];
  EXPECT_FALSE(Exists(RunDir(tmp / "runs", "t", "second")));
  ProcessResult raw = RunCli({"replay", RunDir(tmp / "runs", "t", "first"), "--format", "raw", "--channel", "stdout"});
  EXPECT_EQ(raw.out, "ready\nbye after SIGTERM\n");
}

TEST(RunCommandTest, AllCompletedExitsZero) {
  TempDir tmp("runlog-run");
  ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl", "{\"taskId\":\"t\",\"runId\":\"a\",\"command\":[\"true\"]}\n"
                                            "{\"taskId\":\"t\",\"runId\":\"b\",\"command\":[\"echo\",\"b\"]}\n"));
  ProcessResult r = RunCli({"run", "--jobs", tmp / "jobs.jsonl", "--runs-root", tmp / "runs"});
  EXPECT_EQ(r.exit_code, 0) << r.describe() << r.err;
  EXPECT_EQ(Lines(r.out).size(), 3u);
}

TEST(RunCommandTest, ABadJobsFileIsBadUsageAndStartsNothing) {
  TempDir tmp("runlog-run");
  const std::string touch = "[\"sh\",\"-c\",\"touch " + tmp / "ran" + "\"]";
  for (const std::string& bad : {std::string("not json\n"), "{\"taskId\":\"t\",\"command\":" + touch + "}\n",
                                 "{\"taskId\":\"../x\",\"runId\":\"r\",\"command\":" + touch + "}\n",
                                 std::string("{\"taskId\":\"t\",\"runId\":\"r\",\"command\":[]}\n"),
                                 "{\"taskId\":\"t\",\"runId\":\"r\",\"command\":" + touch + ",\"colour\":1}\n",
                                 "{\"taskId\":\"t\",\"runId\":\"r\",\"command\":" + touch + "}\n{\"taskId\":\"t\",\"runId\":\"r\",\"command\":" + touch + "}\n"}) {
    ASSERT_TRUE(WriteFile(tmp / "jobs.jsonl", bad));
    ProcessResult r = RunCli({"run", "--jobs", tmp / "jobs.jsonl", "--runs-root", tmp / "runs"});
    EXPECT_EQ(r.exit_code, 2) << bad << r.err;
    EXPECT_NE(r.err.find("jobs.jsonl:"), std::string::npos) << r.err;
    EXPECT_FALSE(Exists(tmp / "runs")) << bad;
    EXPECT_FALSE(Exists(tmp / "ran")) << bad;
  }
  EXPECT_EQ(RunCli({"run", "--runs-root", tmp / "runs"}).exit_code, 2);
  EXPECT_EQ(RunCli({"run", "--jobs", tmp / "missing.jsonl"}).exit_code, 2);  // a path that does not exist
}

}  // namespace
}  // namespace runlog::testing
