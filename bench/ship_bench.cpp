// bench/ship_bench.cpp — `runlog ship` into a 3-node JetStream cluster (R3
// stream, file storage) against a bare libnats async-publish loop of the same
// messages (same subjects, data and headers, the same window of outstanding
// acks) to the same stream, in the same process and cluster, interleaved.
//
// The cluster is started here (nats-server on loopback ports, data in a temp
// folder); without nats-server the benchmark reports an error. The runs are
// written once with the engine: RUNLOG_BENCH_SHIP_RUNS runs (default 8) of
// RUNLOG_BENCH_SHIP_RECORDS records in all (default 50,000; W1's mix: 100-byte
// stdout lines, some stderr, lifecycle events). Before each timed pass the
// stream is deleted and created again (R3) outside the timing; after each, it
// must hold exactly the expected number of messages, or no figure is given.
//
//   build/bench/runlog_bench --benchmark_filter=ship/
//
// ship/figures reports, best of RUNLOG_BENCH_REPS rounds (default 3):
//   bare_msgs_per_s   js_PublishMsgAsync of pre-built messages + js_PublishAsyncComplete
//   ship_msgs_per_s   ship::ship() end to end: connect, stream check, the
//                     resync of every subject, reading the files, publishing
//   ship_vs_bare      the ratio (target >= 0.8)
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/reader.h"
#include "runlog/engine.h"
#include "tests/ship/nats_cluster.h"
#include "tools/ship/shipper.h"
#include "tools/ship/subject.h"

namespace runlog::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Msg {
  std::string subject, id, seq, data;
};

struct Setup {
  std::string dir;
  std::unique_ptr<testing::NatsCluster> cluster;
  std::vector<Msg> msgs;
  std::string error;
  ~Setup() {
    cluster.reset();
    if (!dir.empty()) fs::remove_all(dir);
  }
};

std::string write_runs(const std::string& root, std::uint64_t runs, std::uint64_t records) {
  Options o;
  o.runsRoot = root;
  auto engine = Engine::open(o);
  if (!engine.ok()) return engine.status().to_string();
  Producer p(*engine.value());
  std::string line(90, 'x');
  for (std::uint64_t r = 0; r < runs; ++r) {
    RunMetadata m;
    m.taskId = "bench.ship";
    m.runId = fmt::format("run-{}", r);
    m.stepId = "s";
    m.stepName = "ship bench";
    m.workerKind = "bench";
    m.checkpointMode = "none";
    auto run = engine.value()->open_run(m);
    if (!run.ok()) return run.status().to_string();
    for (std::uint64_t i = 0; i < records / runs; ++i) {
      if (i % 100 == 0) (void)p.push_event(run.value(), {EventType::worker_started, LogLevel::info, "tick", R"({"n":1})"});
      else if (i % 10 == 0) (void)p.push_stderr(run.value(), fmt::format("{:08} {}\n", i, line));
      else (void)p.push_stdout(run.value(), fmt::format("{:08} {}\n", i, line));
    }
    (void)p.push_event(run.value(), {EventType::step_completed, LogLevel::info, "done", ""});
    if (Status st = run.value().close(); !st.ok()) return st.to_string();
  }
  if (Status st = engine.value()->close_all(); !st.ok()) return st.to_string();
  return "";
}

// The messages runlog ship sends, built the same way (reader + append_jsonl).
std::string build_msgs(const std::string& root, std::vector<Msg>* out) {
  std::vector<io::Source> sources;
  if (Status st = io::find_sources(root).get(sources); !st.ok()) return st.to_string();
  io::LogReader reader;
  for (const io::Source& src : sources) {
    if (Status st = reader.open(src); !st.ok()) return st.to_string();
    const std::string run = fs::path(src.dir).filename(), task = fs::path(src.dir).parent_path().filename();
    const io::Entry* e = nullptr;
    Status st;
    std::uint64_t last = 0;
    while ((st = reader.next(&e)).ok() && e != nullptr) {
      Msg m;
      m.subject = ship::run_subject(task, run, e->channel());
      m.id = ship::run_msg_id(task, run, e->seq());
      m.seq = std::to_string(e->seq());
      io::append_jsonl(*e, reader.context(), &m.data);
      m.data.pop_back();
      last = e->seq();
      out->push_back(std::move(m));
    }
    if (!st.ok()) return st.to_string();
    out->push_back({ship::run_subject_end(task, run), fmt::format("run/{}/{}/end", task, run), std::to_string(last),
                    reader.context().state_json});
  }
  return "";
}

Setup& setup() {
  // Destroyed at exit: the servers are stopped and the temp folder removed.
  static std::unique_ptr<Setup> s = [] {
    auto st = std::make_unique<Setup>();
    if (testing::FindNatsServer().empty()) {
      st->error = "nats-server is not installed (apt install nats-server)";
      return st;
    }
    st->dir = fs::temp_directory_path() / fmt::format("runlog-ship-bench-{}", ::getpid());
    fs::create_directories(st->dir + "/cluster");
    st->cluster = std::make_unique<testing::NatsCluster>();
    if (!st->cluster->Start(st->dir + "/cluster", 3, &st->error)) return st;
    st->error = write_runs(st->dir + "/runs", env_number("RUNLOG_BENCH_SHIP_RUNS", 8),
                           env_number("RUNLOG_BENCH_SHIP_RECORDS", 50000));
    if (st->error.empty()) st->error = build_msgs(st->dir + "/runs", &st->msgs);
    return st;
  }();
  return *s;
}

// Deletes and creates the R3 stream: an empty stream for each timed pass.
std::string fresh_stream(jsCtx* js) {
  (void)js_DeleteStream(js, "RUNLOG", nullptr, nullptr);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char* subj[] = {ship::kSubjects};
  cfg.Name = "RUNLOG";
  cfg.Subjects = subj;
  cfg.SubjectsLen = 1;
  cfg.Replicas = 3;
  cfg.Storage = js_FileStorage;
  cfg.Duplicates = std::int64_t{120} * 1000000000;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  for (int i = 0; i < 100; ++i) {
    natsStatus s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return "";
    }
    usleep(100000);
  }
  return "cannot create the stream";
}

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* closure) {
  if (pa == nullptr) ++*static_cast<std::uint64_t*>(closure);
  natsMsg_Destroy(msg);
}

// The bare loop: pre-built messages, async publish, the same window.
double bare_pass(const Setup& s, natsConnection* nc, std::string* error) {
  std::uint64_t failed = 0;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = ship::LinkOptions{}.window;
  jo.PublishAsync.StallWait = 60000;  // a full window waits for room (the default 200 ms fails the publish)
  jo.PublishAsync.AckHandler = on_ack;
  jo.PublishAsync.AckHandlerClosure = &failed;
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, nc, &jo);
  if (std::string e = fresh_stream(js); !e.empty()) {
    *error = e;
    return 0;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 5000;
  const auto t0 = Clock::now();
  for (const Msg& m : s.msgs) {
    natsMsg* msg = nullptr;
    natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.data.data(), static_cast<int>(m.data.size()));
    natsMsgHeader_Set(msg, ship::kMsgIdHeader, m.id.c_str());
    natsMsgHeader_Set(msg, ship::kSeqHeader, m.seq.c_str());
    if (js_PublishMsgAsync(js, &msg, &po) != NATS_OK) ++failed;
    natsMsg_Destroy(msg);
  }
  jsPubOptions done;
  jsPubOptions_Init(&done);
  done.MaxWait = 60000;
  js_PublishAsyncComplete(js, &done);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  jsCtx_Destroy(js);
  if (failed) *error = fmt::format("the bare loop had {} failed publishes", failed);
  return seconds;
}

double ship_pass(const Setup& s, jsCtx* js, std::string* error) {
  if (std::string e = fresh_stream(js); !e.empty()) {
    *error = e;
    return 0;
  }
  ship::ShipOptions o;
  o.runs_root = s.dir + "/runs";
  o.link.urls = {s.cluster->Url(0), s.cluster->Url(1), s.cluster->Url(2)};
  volatile std::sig_atomic_t stop = 0;
  ship::ShipStats stats;
  const auto t0 = Clock::now();
  Status st = ship::ship(o, &stop, &stats);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!st.ok()) *error = st.to_string();
  return seconds;
}

void BM_ShipFigures(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state) {
    if (!s.error.empty()) {
      state.SkipWithError(s.error.c_str());
      return;
    }
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsConnection_ConnectTo(&nc, s.cluster->Urls().c_str());
    natsConnection_JetStream(&js, nc, nullptr);
    const std::int64_t expected = static_cast<std::int64_t>(s.msgs.size());
    double best_bare = 1e300, best_ship = 1e300;
    std::string error;
    const std::uint64_t reps = env_number("RUNLOG_BENCH_REPS", 3);
    for (std::uint64_t r = 0; r < reps && error.empty(); ++r) {
      const double b = bare_pass(s, nc, &error);
      if (error.empty() && testing::StreamMessages(s.cluster->Url(0), "RUNLOG") != expected)
        error = "the bare loop's stream does not hold every message";
      if (!error.empty()) break;
      const double sh = ship_pass(s, js, &error);
      if (error.empty() && testing::StreamMessages(s.cluster->Url(1), "RUNLOG") != expected)
        error = fmt::format("runlog ship's stream holds {} messages, not {}",
                            testing::StreamMessages(s.cluster->Url(1), "RUNLOG"), expected);
      best_bare = std::min(best_bare, b);
      best_ship = std::min(best_ship, sh);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    state.SetIterationTime(best_ship);
    state.counters["messages"] = static_cast<double>(expected);
    state.counters["bare_msgs_per_s"] = static_cast<double>(expected) / best_bare;
    state.counters["ship_msgs_per_s"] = static_cast<double>(expected) / best_ship;
    state.counters["ship_vs_bare"] = best_bare / best_ship;
  }
}

[[maybe_unused]] const int registered = [] {
  benchmark::RegisterBenchmark("ship/figures", BM_ShipFigures)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
}  // namespace runlog::bench
