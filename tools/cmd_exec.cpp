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
#include "runlog/capture.h"
#include "tools/command.h"

namespace runlog::tools {
namespace {

constexpr const char* kExecHelp = R"(runlog exec — run a worker process and record its output and lifecycle in a run

Usage: runlog exec --task ID --run ID [options] -- CMD [ARGS...]

Opens <runs-root>/<task>/<run> (it must not hold records yet), logs run_prepared
and worker_started, then every chunk the child writes to stdout and stderr as it
arrives (one chunk per read, both pipes read without one blocking the other),
copying them to runlog's own stdout and stderr byte for byte. When the child
ends: worker_exited ({"exitCode":N} or {"signal":"SIGTERM"}), then
step_completed (exit 0) or step_failed; state.json becomes final. Everything is
durable before runlog exits.

Options:
  --runs-root DIR        where run folders go (default ./runs)
  --task ID, --run ID    the run's ids: [A-Za-z0-9_][A-Za-z0-9._-]{0,127} (required)
  --step ID              stepId (default: the run id)
  --step-name NAME       stepName
  --attempt N            attempt (default 1)
  --worker-kind KIND     workerKind (default "process")
  --repo-root DIR        repoRoot in meta.json (default: the current folder)
  --worktree DIR         worktreePath in meta.json (default: the repo root)
  --durability MODE      batch: fdatasync-ed group commits (default); none: written only
  --quiet                record only; do not copy the child's output
  --pty                  give the child a pseudo-terminal (colours, line buffering);
                         its stdout and stderr then both arrive as stdout
  -h, --help             this help

The child's stdin is runlog's when that is a pipe or a file (`runlog exec ... < in`),
/dev/null when it is a terminal.

Signals: SIGINT, SIGTERM and SIGHUP go to the child's process group; runlog
keeps recording what it prints on its way out. A second SIGINT sends SIGKILL.

Exit status: the child's exit code, or 128 + the signal that ended it; 127 when
the command is not found (126 when it cannot be run), with the run failed;
1 when the run cannot be opened or recorded; 2 bad usage (nothing created).
)";

int cmd_exec(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kExecHelp, stdout);
    return 0;
  }
  Options opts;
  opts.runsRoot = args.value("--runs-root").value_or("runs");
  RunMetadata meta;
  meta.taskId = args.value("--task").value_or("");
  meta.runId = args.value("--run").value_or("");
  meta.stepId = args.value("--step").value_or("");
  meta.stepName = args.value("--step-name").value_or("");
  meta.workerKind = args.value("--worker-kind").value_or("process");
  meta.repoRoot = args.value("--repo-root").value_or("");
  meta.worktreePath = args.value("--worktree").value_or("");
  auto attempt = args.number("--attempt");
  std::string durability = args.value("--durability").value_or("batch");
  const bool quiet = args.flag("--quiet");
  const bool pty = args.flag("--pty");
  if (!args.ok()) return usage_error("exec", args.error());
  std::vector<std::string> command = args.rest();
  if (!command.empty() && command[0].size() > 1 && command[0][0] == '-')
    return usage_error("exec", fmt::format("unknown option '{}'", command[0]));
  if (meta.taskId.empty() || meta.runId.empty()) return usage_error("exec", "give --task ID and --run ID");
  if (command.empty()) return usage_error("exec", "which command? give it after --: runlog exec --task T --run R -- CMD");
  if (durability == "batch") opts.durability = Durability::batch;
  else if (durability == "none") opts.durability = Durability::none;
  else return usage_error("exec", fmt::format("--durability must be none or batch, not '{}'", durability));
  if (attempt) {
    if (*attempt < 1) return usage_error("exec", "--attempt starts at 1");
    meta.attempt = static_cast<std::int64_t>(*attempt);
  }
  // Ids first: a refused id creates nothing, not even the runs root.
  for (auto [what, id] : {std::pair{"taskId", &meta.taskId}, {"runId", &meta.runId}, {"stepId", &meta.stepId}}) {
    if (id->empty() && std::string_view(what) == "stepId") continue;
    if (Status st = validate_id(what, *id); !st.ok()) return usage_error("exec", st.message());
  }
  meta.command = shell_join(command);
  if (meta.stepName.empty()) meta.stepName = command[0];

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
    return 1;
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

}  // namespace

RUNLOG_COMMAND("exec", "run a worker process and record its output and lifecycle in a run", cmd_exec, 5);

}  // namespace runlog::tools
