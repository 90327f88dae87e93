// tools/cmd_ship.cpp — `runlog ship`: every durable record of every run and
// conversation into a NATS JetStream stream, exactly once (tools/ship/).
#include <fmt/format.h>
#include <signal.h>

#include <csignal>
#include <cstdint>
#include <memory>
#include <cstdio>
#include <sstream>
#include <string>

#include "tools/command.h"
#include "tools/ship/shipper.h"

namespace runlog::tools {
namespace {

constexpr const char* kShipFooter = R"HELP(Every durable record of every run under the runs root (<runsRoot>/<taskId>/<runId>)
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

Read back with `runlog replay nats://HOST:PORT/STREAM/<taskId>/<runId>` (or
.../conv/<id>); docs/ship.md has the whole story.

)HELP";

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop(int) { g_stop = 1; }

struct ShipArgs {
  std::string runs_root, conversations_root, nats;
  std::string stream = "RUNLOG";
  std::uint64_t replicas = 3, window = 2048;
  bool follow = false;
};

int run_ship(const ShipArgs& a) {
  ship::ShipOptions o;
  if (a.runs_root.empty() && a.conversations_root.empty())
    return usage_error("ship", "give --runs-root DIR (or --conversations-root DIR)");
  std::stringstream ss(a.nats);
  std::string url;
  while (std::getline(ss, url, ','))
    if (!url.empty()) o.link.urls.push_back(url.find("://") == std::string::npos ? "nats://" + url : url);
  if (o.link.urls.empty()) return usage_error("ship", "--nats needs a URL");
  o.runs_root = a.runs_root;
  o.conversations_root = a.conversations_root;
  o.follow = a.follow;
  o.link.stream = a.stream;
  o.link.replicas = static_cast<int>(a.replicas);
  o.link.window = static_cast<int>(a.window);

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
    return kExitFailed;
  }
  return kExitOk;
}

Runner setup_ship(CLI::App& app) {
  auto o = std::make_shared<ShipArgs>();
  app.add_option("--runs-root", o->runs_root, "the runs to ship (one of the two roots is needed)")->type_name("DIR");
  app.add_option("--conversations-root", o->conversations_root, "the conversations to ship")->type_name("DIR");
  app.add_option("--nats", o->nats, "servers of the cluster: nats://[user:pass@]host:port")
      ->type_name("URL[,URL...]")
      ->required();
  app.add_option("--stream", o->stream, "the stream")->type_name("NAME")->capture_default_str();
  app.add_option("--replicas", o->replicas, "replicas when the stream is created")
      ->type_name("N")
      ->check(whole_number(1, 5))
      ->capture_default_str();
  app.add_option("--window", o->window, "publishes awaiting their ack at most")
      ->type_name("N")
      ->check(whole_number(1, 65536))
      ->capture_default_str();
  app.add_flag("--follow", o->follow,
               "keep shipping: live runs as their records become durable, new\n"
               "runs and conversations as they appear, until SIGINT or SIGTERM\n"
               "(exit 0 once every ack is in)");
  app.footer(std::string(kShipFooter) +
             exit_status_footer("every record shipped (or --follow stopped by a signal)",
                                "a named failure: \"server down\", \"bad credentials\", \"stream ... has other "
                                "subjects\", \"stream full\" (reported; nothing is ever skipped), a run that cannot "
                                "be read"));
  return [o] { return run_ship(*o); };
}

}  // namespace

RUNLOG_COMMAND("ship", "ship every durable record into NATS JetStream, exactly once; --follow", setup_ship, 75);

}  // namespace runlog::tools
