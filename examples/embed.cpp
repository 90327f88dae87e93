// examples/embed.cpp — the smallest runner that embeds runlog: open a run,
// push a worker's output and lifecycle from two threads, wait for durability,
// close. Built against the installed headers only (#include <runlog/...>).
//
//   embed_example [RUNS_ROOT]     (default ./runs)
#include <runlog/engine.h>

#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  runlog::Options options;
  options.runsRoot = argc > 1 ? argv[1] : "runs";
  auto opened = runlog::Engine::open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "embed_example: %s\n", opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<runlog::Engine> engine = std::move(opened).value();

  runlog::RunMetadata meta;
  meta.taskId = "example";
  meta.runId = "run-1";
  meta.stepName = "say hello";
  meta.workerKind = "shell";
  meta.checkpointMode = "none";
  auto run = engine->open_run(meta);
  if (!run.ok()) {
    std::fprintf(stderr, "embed_example: %s\n", run.status().to_string().c_str());
    return 1;
  }
  runlog::Run r = run.value();

  runlog::Producer lifecycle(*engine);
  (void)lifecycle.push_event(r, {runlog::EventType::worker_started, runlog::LogLevel::info, "worker started",
                                 R"({"pid":4242})"});
  // stdout and stderr arrive on their own threads, as pipe readers would push them.
  std::thread out([&] {
    runlog::Producer p(*engine);
    for (int i = 0; i < 100; ++i) (void)p.push_stdout(r, "line " + std::to_string(i) + "\n");
  });
  std::thread err([&] {
    runlog::Producer p(*engine);
    (void)p.push_stderr(r, "warning: \xff not UTF-8\n");  // kept byte for byte in "bytes"
  });
  out.join();
  err.join();
  (void)lifecycle.push_event(r, {runlog::EventType::worker_exited, runlog::LogLevel::info, "exited",
                                 R"({"exitCode":0})"});
  auto last = lifecycle.push_event(r, {runlog::EventType::step_completed, runlog::LogLevel::info, "done", ""});
  auto seq = last.value().wait();  // durable: fdatasync-ed
  if (!seq.ok()) {
    std::fprintf(stderr, "embed_example: %s\n", seq.status().to_string().c_str());
    return 1;
  }
  runlog::LocalRunLogSummary s = r.summary();
  if (runlog::Status st = r.close(); !st.ok()) {
    std::fprintf(stderr, "embed_example: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("{\"lastSeq\":%llu,\"totalEntries\":%llu,\"durableSeq\":%llu,\"status\":\"%s\"}\n",
              static_cast<unsigned long long>(seq.value()), static_cast<unsigned long long>(s.totalEntries),
              static_cast<unsigned long long>(r.durable_seq()),
              std::string(runlog::status_name(r.state().status)).c_str());
  return 0;
}
