// tools/cmd_ship.cpp — `runlog ship`: every durable record of every run and
// conversation into a NATS JetStream stream, exactly once (tools/ship/).
#include <fmt/format.h>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <sstream>
#include <string>

#include "tools/command.h"
#include "tools/ship/shipper.h"

namespace runlog::tools {
namespace {

constexpr const char* kShipHelp = R"(runlog ship — ship every durable record into NATS JetStream, exactly once

Usage: runlog ship --runs-root DIR [--conversations-root DIR] --nats URL[,URL...]
                   [--stream RUNLOG] [--replicas 3] [--window N] [--follow]

Every durable record of every run under the runs root (<runsRoot>/<taskId>/<runId>)
and of every conversation under the conversations root (<root>/<id>) is published
to one JetStream stream, each exactly once and in seq order per subject:

  subject   runlog.run.<taskId>.<runId>.<worker|stdout|stderr>, runlog.conv.<id>
            (a '.' in an id is written %2E)
  data      the entry exactly as `runlog replay --format jsonl` prints it
            (a conversation's StoredChunk line), without the newline
  headers   Nats-Msg-Id: run/<taskId>/<runId>/<seq> (conv/<id>/<seq>), Runlog-Seq: <seq>

A finished run also gets one end marker, runlog.run.<taskId>.<runId>.end (its
state.json), after its last record. The stream is created when it is missing
(subjects runlog.>, file storage, the replicas given, a 2-minute duplicate
window). Where each run stands is asked of the stream itself (its last message
per subject), at start and after any failure or reconnect: a killed shipper, or
one started on another machine, resumes exactly there.

  --runs-root DIR           the runs to ship (one of the two roots is needed)
  --conversations-root DIR  the conversations to ship
  --nats URL[,URL...]       servers of the cluster: nats://[user:pass@]host:port
  --stream NAME             the stream (default RUNLOG)
  --replicas N              replicas when the stream is created (default 3)
  --window N                publishes awaiting their ack at most (default 2048)
  --follow                  keep shipping: live runs as their records become
                            durable, new runs and conversations as they appear,
                            until SIGINT or SIGTERM (exit 0 once every ack is in)

Read back with `runlog replay nats://HOST:PORT/STREAM/<taskId>/<runId>` (or
.../conv/<id>); docs/ship.md has the whole story.

Exit status: 0 every record shipped (or --follow stopped by a signal); 1 a named
failure: "server down", "bad credentials", "stream ... has other subjects",
"stream full" (reported; nothing is ever skipped), a run that cannot be read;
2 bad usage.
)";

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop(int) { g_stop = 1; }

int cmd_ship(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kShipHelp, stdout);
    return 0;
  }
  ship::ShipOptions o;
  auto runs = args.value("--runs-root");
  auto convs = args.value("--conversations-root");
  auto nats = args.value("--nats");
  auto stream = args.value("--stream");
  auto replicas = args.number("--replicas");
  auto window = args.number("--window");
  o.follow = args.flag("--follow");
  if (!args.ok()) return usage_error("ship", args.error());
  if (auto rest = args.rest(); !rest.empty()) return usage_error("ship", fmt::format("unexpected argument '{}'", rest[0]));
  if (!runs && !convs) return usage_error("ship", "give --runs-root DIR (or --conversations-root DIR)");
  if (!nats) return usage_error("ship", "give --nats URL[,URL...]");
  if (replicas && (*replicas < 1 || *replicas > 5)) return usage_error("ship", "--replicas takes 1 to 5");
  if (window && (*window < 1 || *window > 65536)) return usage_error("ship", "--window takes 1 to 65536");
  std::stringstream ss(*nats);
  std::string url;
  while (std::getline(ss, url, ','))
    if (!url.empty()) o.link.urls.push_back(url.find("://") == std::string::npos ? "nats://" + url : url);
  if (o.link.urls.empty()) return usage_error("ship", "--nats needs a URL");
  o.runs_root = runs.value_or("");
  o.conversations_root = convs.value_or("");
  if (stream) o.link.stream = *stream;
  if (replicas) o.link.replicas = static_cast<int>(*replicas);
  if (window) o.link.window = static_cast<int>(*window);

  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ship::ShipStats stats;
  Status st = ship::ship(o, &g_stop, &stats);
  if (stats.runs + stats.conversations > 0)
    fmt::print(stderr, "runlog ship: {} runs, {} conversations; {} messages published, {} acknowledged ({} already stored); {} resyncs\n",
             stats.runs, stats.conversations, stats.published, stats.acked, stats.duplicates, stats.resyncs);
  if (!st.ok()) {
    fmt::print(stderr, "runlog ship: {}\n", st.message());
    return 1;
  }
  return 0;
}

}  // namespace

RUNLOG_COMMAND("ship", "ship every durable record into NATS JetStream, exactly once; --follow", cmd_ship, 75);

}  // namespace runlog::tools
