// tools/cmd_run.cpp — `runlog run`: the embedded multi-worker runner. Runs the
// jobs of a JSON-lines file, up to N at once, all under one engine, each
// captured into its own run (runlog/capture.h), and reports one line per run.
#include <fmt/format.h>
#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "core/utf8.h"
#include "runlog/capture.h"
#include "tools/command.h"
#include "tools/run_start.h"

namespace runlog::tools {
namespace {

constexpr const char* kRunFooter = R"HELP(FILE holds one job per line (JSON; blank lines are skipped):
  {"taskId":"t","runId":"r1","command":["make","test"],
   "stepId":"s","stepName":"unit tests","cwd":"/src","env":{"CI":"1"}}
taskId, runId and command are required. A run folder <DIR>/<taskId>/<runId>
that already holds records is refused before anything starts (exit 2, the runs
named), unless --skip-existing; one that never got a record is opened again.
Each job is recorded as `runlog exec --quiet` would: run_prepared,
worker_started, every stdout/stderr chunk, worker_exited, step_completed or
step_failed (also when the child could not be started: no pipe, no descriptor).
The children's stdin is /dev/null.

On a terminal, stderr shows a live view: runs done, running and failed, with
records/s and MB/s written. At the end stdout holds one JSON line per job, in
file order:
  {"taskId","runId","status","exitCode","signal","entries","bytes","seconds","error",
   "existingStatus"}
(status is the run's final status, or "skipped" when a signal stopped the runner
before the job started or --skip-existing left it alone, and then existingStatus
is the status the run already had; exitCode/signal null when not applicable;
bytes are the child's stdout+stderr bytes; error and existingStatus only when
they apply), then one line
  {"summary":{"jobs","completed","failed","skipped","entries","bytes","records",
              "encodedBytes","seconds","recordsPerSec","mbPerSec"}}

Signals: SIGINT, SIGTERM and SIGHUP go to every running child's process group
and no new job starts; a second SIGINT sends SIGKILL.

)HELP";

struct RunArgs {
  std::string root{kDefaultRunsDirectoryName};
  std::string jobs;
  std::size_t width = 4;
  std::string durability = "batch";
  bool skip_existing = false;
};

struct Job {
  std::size_t line = 0;
  std::string taskId, runId, stepId, stepName, cwd;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
};

struct Outcome {
  std::string status = "skipped";
  std::string existing;  ///< skipped because the run already holds records: its status
  std::optional<int> exitCode;
  std::string signal;
  std::uint64_t entries = 0, bytes = 0;
  double seconds = 0;
  std::string error;
};

Status job_error(const std::string& file, std::size_t line, const std::string& what) {
  return Status::Invalid(fmt::format("{}:{}: {}", file, line, what));
}

Status parse_job(const std::string& file, std::size_t line_no, std::string_view line, simdjson::dom::parser& parser,
                 Job* job) {
  job->line = line_no;
  simdjson::dom::element doc;
  if (auto err = parser.parse(line.data(), line.size()).get(doc); err)
    return job_error(file, line_no, fmt::format("not JSON ({})", simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return job_error(file, line_no, "a job is a JSON object");
  for (auto field : obj) {
    std::string_view key = field.key;
    auto str = [&](std::string* out) -> Status {
      std::string_view v;
      if (field.value.get_string().get(v)) return job_error(file, line_no, fmt::format("{} must be a string", key));
      *out = std::string(v);
      return Status::OK();
    };
    if (key == "taskId") RUNLOG_RETURN_IF_ERROR(str(&job->taskId));
    else if (key == "runId") RUNLOG_RETURN_IF_ERROR(str(&job->runId));
    else if (key == "stepId") RUNLOG_RETURN_IF_ERROR(str(&job->stepId));
    else if (key == "stepName") RUNLOG_RETURN_IF_ERROR(str(&job->stepName));
    else if (key == "cwd") RUNLOG_RETURN_IF_ERROR(str(&job->cwd));
    else if (key == "command") {
      simdjson::dom::array arr;
      if (field.value.get_array().get(arr)) return job_error(file, line_no, "command must be an array of strings");
      for (auto a : arr) {
        std::string_view v;
        if (a.get_string().get(v)) return job_error(file, line_no, "command must be an array of strings");
        job->command.emplace_back(v);
      }
    } else if (key == "env") {
      simdjson::dom::object env;
      if (field.value.get_object().get(env)) return job_error(file, line_no, "env must be an object of strings");
      for (auto kv : env) {
        std::string_view v;
        if (kv.value.get_string().get(v)) return job_error(file, line_no, "env must be an object of strings");
        if (kv.key.empty() || kv.key.find('=') != std::string_view::npos)
          return job_error(file, line_no, fmt::format("env: bad variable name '{}'", kv.key));
        job->env.emplace_back(std::string(kv.key), std::string(v));
      }
    } else {
      return job_error(file, line_no, fmt::format("unknown key '{}' (taskId, runId, command, stepId, stepName, cwd, env)", key));
    }
  }
  if (job->taskId.empty() || job->runId.empty()) return job_error(file, line_no, "taskId and runId are required");
  if (job->command.empty() || job->command[0].empty()) return job_error(file, line_no, "command must not be empty");
  for (auto [what, id] : {std::pair{"taskId", &job->taskId}, {"runId", &job->runId}, {"stepId", &job->stepId}}) {
    if (id->empty()) continue;  // stepId is optional
    if (Status st = validate_id(what, *id); !st.ok()) return job_error(file, line_no, st.message());
  }
  return Status::OK();
}

Result<std::vector<Job>> read_jobs(const std::string& file) {
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) return Status::FromErrno(errno, "open " + file);
    in = &in_file;
  }
  std::vector<Job> jobs;
  simdjson::dom::parser parser;
  std::set<std::pair<std::string, std::string>> seen;
  std::string line;
  std::size_t n = 0;
  while (std::getline(*in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Job job;
    Status st = parse_job(file, n, line, parser, &job);
    if (!st.ok()) return Status::Invalid(st.message());
    if (!seen.insert({job.taskId, job.runId}).second)
      return job_error(file, n, fmt::format("run {}/{} appears twice", job.taskId, job.runId));
    jobs.push_back(std::move(job));
  }
  if (jobs.empty()) return Status::Invalid(file + ": no jobs");
  return jobs;
}

/// One job, on a runner thread: open its run, capture, close.
Outcome run_job(Engine& engine, Producer& producer, const Job& job) {
  Outcome o;
  o.status = "failed";
  const auto t0 = std::chrono::steady_clock::now();
  RunMetadata meta;
  meta.taskId = job.taskId;
  meta.runId = job.runId;
  meta.stepId = job.stepId;
  meta.stepName = job.stepName.empty() ? job.command[0] : job.stepName;
  meta.workerKind = "process";
  meta.command = shell_join(job.command);
  if (!job.cwd.empty()) meta.repoRoot = job.cwd;
  auto opened = engine.open_run(meta);
  if (!opened.ok()) {
    o.error = opened.status().to_string();
    return o;
  }
  Run run = opened.value();
  if (run.summary().totalEntries != 0) {
    o.error = fmt::format("run {}/{} already holds {} records", job.taskId, job.runId, run.summary().totalEntries);
    return o;
  }
  std::string data = "{\"command\":";
  append_json_string(&data, *meta.command);
  data += '}';
  Status st = producer.push_event(run, {EventType::run_prepared, LogLevel::info, "run prepared", data}).status();
  if (st.ok()) {
    CaptureOptions co;
    co.child.argv = job.command;
    co.child.cwd = job.cwd;
    co.child.env = job.env;
    Result<CaptureResult> r = capture_into_run(co, run, producer);
    if (r.ok()) {
      if (!r->error.empty()) {
        o.error = r->error;
        o.exitCode = r->spawn_status;
      } else if (r->signal != 0) {
        o.signal = signal_name(r->signal);
      } else {
        o.exitCode = r->exit_code;
      }
      o.bytes = r->stdout_bytes + r->stderr_bytes;
    } else {
      st = r.status();
      fail_unstarted(run, producer, st);
    }
  }
  Status closed = run.close();
  if (st.ok()) st = closed;
  if (!st.ok()) o.error = st.to_string();
  o.status = std::string(status_name(run.state().status));
  if (!st.ok() && o.status == "completed") o.status = "failed";  // not recorded: not a success
  o.entries = run.summary().totalEntries;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

std::string outcome_json(const Job& job, const Outcome& o) {
  std::string out = "{\"taskId\":";
  append_json_string(&out, job.taskId);
  out += ",\"runId\":";
  append_json_string(&out, job.runId);
  out += ",\"status\":";
  append_json_string(&out, o.status);
  out += o.exitCode ? fmt::format(",\"exitCode\":{}", *o.exitCode) : std::string(",\"exitCode\":null");
  out += ",\"signal\":";
  if (o.signal.empty()) out += "null";
  else append_json_string(&out, o.signal);
  out += fmt::format(",\"entries\":{},\"bytes\":{},\"seconds\":{:.3f}", o.entries, o.bytes, o.seconds);
  if (!o.existing.empty()) {
    out += ",\"existingStatus\":";
    append_json_string(&out, o.existing);
  }
  if (!o.error.empty()) {
    out += ",\"error\":";
    append_json_string(&out, o.error);
  }
  out += '}';
  return out;
}

int run_jobs(const RunArgs& args) {
  Options opts;
  opts.runsRoot = args.root;
  opts.durability = args.durability == "none" ? Durability::none : Durability::batch;
  const std::size_t width = args.width;
  auto parsed = read_jobs(args.jobs);
  if (!parsed.ok()) {
    fmt::print(stderr, "runlog run: {}\n", parsed.status().message());
    const Errc code = parsed.status().code();
    return code == Errc::invalid_argument || code == Errc::not_found ? kExitUsage : kExitFailed;
  }
  const std::vector<Job> jobs = std::move(parsed).value();

  // Runs that already hold records: refused up front, or skipped.
  std::vector<Outcome> outcomes(jobs.size());
  std::vector<std::string> existing;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (auto status = existing_run_status(args.root, jobs[i].taskId, jobs[i].runId)) {
      outcomes[i].existing = *status;
      existing.push_back(fmt::format("{}/{} ({})", jobs[i].taskId, jobs[i].runId, *status));
    }
  }
  if (!existing.empty() && !args.skip_existing) {
    std::string list;
    for (std::size_t i = 0; i < existing.size() && i < 20; ++i) list += (i ? ", " : "") + existing[i];
    if (existing.size() > 20) list += fmt::format(", and {} more", existing.size() - 20);
    fmt::print(stderr,
               "runlog run: {} of the jobs' runs already hold records: {}\n"
               "runlog run: nothing started; give them new runIds, or pass --skip-existing to run only the others\n",
               existing.size(), list);
    return kExitUsage;
  }

  ::signal(SIGPIPE, SIG_IGN);
  SignalForwarder forwarder;  // before any other thread: they inherit the blocked mask
  auto opened = Engine::open(opts);
  if (!opened.ok()) {
    fmt::print(stderr, "runlog run: cannot open the runs root: {}\n", opened.status().to_string());
    return kExitFailed;
  }
  std::unique_ptr<Engine> engine = std::move(opened).value();

  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0}, running{0}, failed{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> runners;
  for (std::size_t w = 0; w < std::min(width, jobs.size()); ++w) {
    runners.emplace_back([&] {
      Producer producer(*engine);
      for (std::size_t i; (i = next.fetch_add(1)) < jobs.size();) {
        if (!outcomes[i].existing.empty()) continue;  // --skip-existing: "skipped"
        if (forwarder.received() != 0) continue;     // stopping: the job stays "skipped"
        running.fetch_add(1);
        outcomes[i] = run_job(*engine, producer, jobs[i]);
        running.fetch_sub(1);
        if (outcomes[i].status != "completed") failed.fetch_add(1);
        done.fetch_add(1);
      }
    });
  }

  // The live view, on a terminal only.
  std::mutex view_mu;
  std::condition_variable view_cv;
  bool finished = false;
  std::thread view;
  if (isatty(STDERR_FILENO)) {
    view = std::thread([&] {
      EngineStats last = engine->stats();
      auto last_t = std::chrono::steady_clock::now();
      std::unique_lock<std::mutex> lock(view_mu);
      while (!view_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return finished; })) {
        EngineStats now = engine->stats();
        auto now_t = std::chrono::steady_clock::now();
        double dt = std::chrono::duration<double>(now_t - last_t).count();
        fmt::print(stderr, "\r\033[Krunlog run: {}/{} done, {} running, {} failed | {:.0f} records/s, {:.1f} MB/s",
                   done.load(), jobs.size(), running.load(), failed.load(),
                   static_cast<double>(now.records - last.records) / dt,
                   static_cast<double>(now.bytes - last.bytes) / dt / 1e6);
        std::fflush(stderr);
        last = now;
        last_t = now_t;
      }
      fmt::print(stderr, "\r\033[K");
    });
  }
  for (std::thread& t : runners) t.join();
  {
    std::lock_guard<std::mutex> lock(view_mu);
    finished = true;
  }
  view_cv.notify_all();
  if (view.joinable()) view.join();
  Status closed = engine->close_all();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EngineStats stats = engine->stats();

  std::uint64_t completed = 0, nfailed = 0, skipped = 0, skipped_existing = 0, entries = 0, bytes = 0;
  std::string out;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (o.status == "completed") ++completed;
    else if (o.status == "skipped") ++(o.existing.empty() ? skipped : skipped_existing);
    else ++nfailed;
    entries += o.entries;
    bytes += o.bytes;
    out += outcome_json(jobs[i], o);
    out += '\n';
    if (!o.error.empty()) fmt::print(stderr, "runlog run: {}/{}: {}\n", jobs[i].taskId, jobs[i].runId, o.error);
  }
  out += fmt::format(
      "{{\"summary\":{{\"jobs\":{},\"completed\":{},\"failed\":{},\"skipped\":{},\"entries\":{},\"bytes\":{},"
      "\"records\":{},\"encodedBytes\":{},\"seconds\":{:.3f},\"recordsPerSec\":{:.0f},\"mbPerSec\":{:.1f}}}}}\n",
      jobs.size(), completed, nfailed, skipped + skipped_existing, entries, bytes, stats.records, stats.bytes, seconds,
      static_cast<double>(stats.records) / seconds, static_cast<double>(stats.bytes) / seconds / 1e6);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!closed.ok()) {
    fmt::print(stderr, "runlog run: {}\n", closed.to_string());
    return kExitFailed;
  }
  if (int sig = forwarder.received(); sig != 0)
    fmt::print(stderr, "runlog run: stopped by {}; {} jobs not started\n", signal_name(sig), skipped);
  return completed + skipped_existing == jobs.size() ? kExitOk : kExitFailed;
}

Runner setup_run(CLI::App& app) {
  auto o = std::make_shared<RunArgs>();
  app.add_option("--jobs", o->jobs, "the jobs (\"-\" for stdin)")->type_name("FILE")->required()->check(existing_path());
  app.add_option("--runs-root", o->root, "where run folders go")->type_name("DIR")->capture_default_str();
  app.add_option("-j", o->width, "jobs at once")->type_name("N")->check(whole_number(1, 1024))->capture_default_str();
  add_durability_option(app, o->durability);
  app.add_flag("--skip-existing", o->skip_existing,
               "run only the jobs whose runs hold no records yet; the others are\n"
               "reported \"skipped\" with their existingStatus. Without it, such\n"
               "runs are refused up front (exit 2, nothing started)");
  app.footer(std::string(kRunFooter) +
             exit_status_footer("every job completed (or was skipped by --skip-existing)",
                                "a job failed or was stopped by a signal (or a run could not be recorded); 2 also "
                                "for a bad jobs file or runs that already hold records (nothing started)"));
  return [o] { return run_jobs(*o); };
}

}  // namespace

RUNLOG_COMMAND("run", "run many worker processes from a jobs file, each recorded into its own run", setup_run, 6);

}  // namespace runlog::tools
