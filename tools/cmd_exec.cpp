// tools/cmd_exec.cpp — `runlog exec`: run one worker process and record
// everything it says into a run (runlog/capture.h does the work).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/utf8.h"
#include "io/fs.h"
#include "io/run_dir.h"
#include "runlog/capture.h"
#include "tools/command.h"
#include "tools/run_start.h"

namespace runlog::tools {
namespace {

constexpr const char* kExecFooter = R"HELP(Opens <runs-root>/<task>/<run> (it must not hold records yet), logs run_prepared
and worker_started, then every chunk the child writes to stdout and stderr as it
arrives (one chunk per read, both pipes read without one blocking the other),
copying them to runlog's own stdout and stderr byte for byte. When the child
ends: worker_exited ({"exitCode":N} or {"signal":"SIGTERM"}), then
step_completed (exit 0) or step_failed; state.json becomes final. Everything is
durable before runlog exits. Everything after `--` is the command, untouched.

The child's stdin is runlog's when that is a pipe or a file (`runlog exec ... < in`),
/dev/null when it is a terminal.

Signals: SIGINT, SIGTERM and SIGHUP go to the child's process group; runlog
keeps recording what it prints on its way out. A second SIGINT sends SIGKILL.

Exit status: the child's exit code, or 128 + the signal that ended it; 127 when
the command is not found (126 when it cannot be run), with the run failed;
1 when the run cannot be opened or recorded (a corrupt run: file and offset
named, nothing changed); 2 bad usage (an unknown option, a bad value, a run
that already holds records; nothing done).)HELP";

struct ExecArgs {
  Options opts;
  RunMetadata meta;
  std::uint64_t attempt = 1;
  std::string durability = "batch";
  bool quiet = false, pty = false;
  std::vector<std::string> command;
};

int run_exec(ExecArgs& args) {
  Options& opts = args.opts;
  RunMetadata& meta = args.meta;
  const std::vector<std::string>& command = args.command;
  const bool quiet = args.quiet, pty = args.pty;
  if (command.empty()) return usage_error("exec", "which command? give it after --: runlog exec --task T --run R -- CMD");
  opts.durability = args.durability == "none" ? Durability::none : Durability::batch;
  meta.attempt = static_cast<std::int64_t>(args.attempt);
  // Ids first: a refused id creates nothing, not even the runs root.
  for (auto [what, id] : {std::pair{"taskId", &meta.taskId}, {"runId", &meta.runId}, {"stepId", &meta.stepId}}) {
    if (id->empty() && std::string_view(what) == "stepId") continue;
    if (Status st = validate_id(what, *id); !st.ok()) return usage_error("exec", st.message());
  }
  meta.command = shell_join(command);
  if (meta.stepName.empty()) meta.stepName = command[0];

  // An existing run gets recovery's verdict read-only, before anything is
  // opened for writing: corrupt -> exit 1 (file and offset named); holding
  // records (runlog's own or another implementation's) -> refused, exit 2.
  // Either way nothing in it changes, not even state.json's updatedAt.
  {
    std::unique_ptr<io::Dir> root;
    if (io::posix_fs()->open_root(opts.runsRoot, false, 0).get(root).ok()) {
      std::uint64_t held = 0;
      if (Status peek = io::peek_run_records(*root, meta.taskId, meta.runId).get(held); !peek.ok()) {
        fmt::print(stderr, "runlog exec: cannot open run {}/{}: {}\n", meta.taskId, meta.runId, peek.to_string());
        return peek.code() == Errc::invalid_argument ? kExitUsage : 1;
      }
    }
  }
  if (auto existing = existing_run_status(opts.runsRoot, meta.taskId, meta.runId)) {
    fmt::print(stderr, "runlog exec: run {}/{} already holds records (status {}); give a new --run id\n", meta.taskId,
               meta.runId, *existing);
    return kExitUsage;
  }

  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout stops the copy, not the recording
  SignalForwarder forwarder;   // before the engine's threads: they inherit the blocked mask

  auto opened = Engine::open(opts);
  if (!opened.ok()) {
    fmt::print(stderr, "runlog exec: cannot open the runs root: {}\n", opened.status().to_string());
    return 1;
  }
  std::unique_ptr<Engine> engine = std::move(opened).value();
  auto run_or = engine->open_run(meta);
  if (!run_or.ok()) {
    fmt::print(stderr, "runlog exec: cannot open run {}/{}: {}\n", meta.taskId, meta.runId,
               run_or.status().to_string());
    return run_or.status().code() == Errc::invalid_argument ? 2 : 1;
  }
  Run run = run_or.value();
  if (run.summary().totalEntries != 0) {
    fmt::print(stderr, "runlog exec: run {}/{} already holds {} records; give a new --run id\n", meta.taskId,
               meta.runId, run.summary().totalEntries);
    return kExitUsage;
  }

  Producer producer(*engine);
  std::string prepared_data = "{\"command\":";
  append_json_string(&prepared_data, *meta.command);
  prepared_data += '}';
  Status st = producer.push_event(run, {EventType::run_prepared, LogLevel::info, "run prepared", prepared_data}).status();
  CaptureOptions co;
  co.child.argv = command;
  co.child.pty = pty;
  // runlog's stdin when it is a pipe or a file. Not a terminal: the child runs in
  // a background process group, where reading the terminal would stop it (SIGTTIN).
  co.child.inherit_stdin = !isatty(STDIN_FILENO);
  if (!quiet) {
    co.passthrough_stdout = STDOUT_FILENO;
    co.passthrough_stderr = STDERR_FILENO;
  }
  int status = 1;
  if (st.ok()) {
    Result<CaptureResult> r = capture_into_run(co, run, producer);
    if (r.ok()) {
      status = r->exit_status();
      if (!r->error.empty()) fmt::print(stderr, "runlog exec: {}\n", r->error);
    } else {
      st = r.status();
      fail_unstarted(run, producer, st);
    }
  }
  Status closed = run.close();
  if (st.ok()) st = closed;
  if (!st.ok()) {
    fmt::print(stderr, "runlog exec: the run {}/{} could not be recorded: {}\n", meta.taskId, meta.runId,
               st.to_string());
    return status == 0 ? 1 : status;
  }
  return status;
}

Runner setup_exec(CLI::App& app) {
  auto o = std::make_shared<ExecArgs>();
  o->opts.runsRoot = kDefaultRunsDirectoryName;
  o->meta.workerKind = "process";
  app.add_option("--runs-root", o->opts.runsRoot, "where run folders go")->type_name("DIR")->capture_default_str();
  app.add_option("--task", o->meta.taskId, "the run's taskId: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
      ->type_name("ID")
      ->required();
  app.add_option("--run", o->meta.runId, "the run's runId (same form)")->type_name("ID")->required();
  app.add_option("--step", o->meta.stepId, "stepId (default: the run id)")->type_name("ID");
  app.add_option("--step-name", o->meta.stepName, "stepName (default: the command's name)")->type_name("NAME");
  app.add_option("--attempt", o->attempt, "attempt")->type_name("N")->check(whole_number(1))->capture_default_str();
  app.add_option("--worker-kind", o->meta.workerKind, "workerKind")->type_name("KIND")->capture_default_str();
  app.add_option("--repo-root", o->meta.repoRoot, "repoRoot in meta.json (default: the current folder)")
      ->type_name("DIR");
  app.add_option("--worktree", o->meta.worktreePath, "worktreePath in meta.json (default: the repo root)")
      ->type_name("DIR");
  add_durability_option(app, o->durability);
  app.add_flag("--quiet", o->quiet, "record only; do not copy the child's output");
  app.add_flag("--pty", o->pty,
               "give the child a pseudo-terminal (colours, line buffering);\n"
               "its stdout and stderr then both arrive as stdout");
  app.add_option("CMD", o->command, "the command and its arguments, after --")->type_name("");
  app.footer(kExecFooter);
  return [o] { return run_exec(*o); };
}

}  // namespace

RUNLOG_COMMAND("exec", "run a worker process and record its output and lifecycle in a run", setup_exec, 5);

}  // namespace runlog::tools
