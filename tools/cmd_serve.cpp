// tools/cmd_serve.cpp — `runlog serve`: the runs (and conversations) under a
// root over HTTP, live over SSE, with the web viewer at / (tools/serve/).
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tools/command.h"
#include "tools/serve/server.h"

namespace runlog::tools {
namespace {

constexpr const char* kServeFooter = R"HELP(Prints "listening on http://HOST:PORT/" on stdout once it accepts connections.

Endpoints (GET or HEAD only; anything else 405):
  /                                   the web viewer (served from the binary)
  /api/runs                           JSON array, one object per run, as `runlog ls --json`
  /api/runs/TASK/RUN                  the object `runlog summary` prints
  /api/runs/TASK/RUN/entries?after=N&limit=M&channel=C
                                      application/x-ndjson, byte for byte
                                      `runlog replay DIR --format jsonl --after N --limit M --channel C`
                                      (channel: worker, stdout, stderr; repeat or C1,C2)
  /api/runs/TASK/RUN/raw?channel=stdout
                                      the exact bytes, as `--format raw`
  /api/runs/TASK/RUN/events?after=N   text/event-stream: per entry `id: <seq>` and
                                      `data: <entry JSON>`; resumes after Last-Event-ID
                                      (or after); `event: end` once the run is closed
                                      and everything has been sent
  /api/conversations                  JSON array, as `runlog ls --json` of the root
  /api/conversations/ID               the object `runlog summary` prints
  /api/conversations/ID/chunks?after=N&limit=M
                                      StoredChunk lines (application/x-ndjson)
  /api/conversations/ID/events?after=N
                                      text/event-stream of StoredChunks (id: <seq>)
  /api/conversations/ID/messages      ChatMessage[] (JSON array)

Ids must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; a path with '..', '.', an
encoded '/' or a backslash gets 400, an unknown run 404. Only durable records
are served. SIGTERM or SIGINT ends every stream cleanly and exits 0.

)HELP";

struct ServeArgs {
  std::string runs_root;
  std::string conversations_root;
  std::string listen = "127.0.0.1:8080";
  std::string token_file;
  std::string cors_origin;
  std::uint64_t max_streams = 1024;
  std::uint64_t client_buffer = 8388608;
};

int run_serve(const ServeArgs& a) {
  ServeOptions opt;
  opt.runs_root = a.runs_root;
  opt.conversations_root = a.conversations_root;
  opt.cors_origin = a.cors_origin;
  opt.max_streams = static_cast<std::size_t>(a.max_streams);
  opt.client_buffer = static_cast<std::size_t>(a.client_buffer);
  {
    const std::string& listen = a.listen;
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) return usage_error("serve", "--listen takes HOST:PORT");
    opt.host = listen.substr(0, colon);
    if (opt.host.size() > 2 && opt.host.front() == '[' && opt.host.back() == ']') opt.host = opt.host.substr(1, opt.host.size() - 2);
    const std::string port = listen.substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 0 || p > 65535) return usage_error("serve", fmt::format("bad port '{}'", port));
    opt.port = static_cast<int>(p);
  }
  if (!a.token_file.empty()) {
    std::ifstream in(a.token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      fmt::print(stderr, "runlog serve: cannot read the token file {}\n", a.token_file);
      return kExitFailed;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) {
      fmt::print(stderr, "runlog serve: the token file {} holds no token\n", a.token_file);
      return kExitFailed;
    }
    opt.token = line;
  }
  if (!is_loopback_host(opt.host) && opt.token.empty())
    return usage_error("serve", fmt::format("--listen {} is not loopback: give --token-file too", opt.host));

  // A socket per stream: allow as many descriptors as the system lets us.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }

  // Every thread started from here on has SIGTERM and SIGINT blocked; one
  // thread waits for them and stops the server.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  LogServer server(opt);
  if (Status st = server.bind(); !st.ok()) {
    fmt::print(stderr, "runlog serve: {}\n", st.to_string());
    return kExitFailed;
  }
  std::thread signals([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    server.stop();
  });
  const std::string shown = opt.host.find(':') != std::string::npos ? "[" + opt.host + "]" : opt.host;
  fmt::print("listening on http://{}:{}/\n", shown, server.port());
  std::fflush(stdout);
  Status st = server.run();
  // run() returns on a signal (then `signals` has ended) or on a failure.
  if (!st.ok()) {
    fmt::print(stderr, "runlog serve: {}\n", st.to_string());
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    return kExitFailed;
  }
  signals.join();
  return kExitOk;
}

Runner setup_serve(CLI::App& app) {
  auto o = std::make_shared<ServeArgs>();
  app.add_option("--runs-root", o->runs_root, "the runs: DIR/<taskId>/<runId>/ (it may appear later)")
      ->type_name("DIR")
      ->required();
  app.add_option("--conversations-root", o->conversations_root, "the conversations: DIR/<conversationId>/chunks.jsonl")
      ->type_name("DIR");
  app.add_option("--listen", o->listen,
                 "port 0 picks a free one. A host other than loopback needs\n"
                 "--token-file")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--token-file", o->token_file,
                 "the file's first line is a token; every request must then send\n"
                 "\"Authorization: Bearer <token>\" (401 otherwise)")
      ->type_name("F");
  app.add_option("--cors-origin", o->cors_origin,
                 "send Access-Control-Allow-Origin: ORIGIN (and answer CORS\n"
                 "preflights); no CORS without it")
      ->type_name("ORIGIN");
  app.add_option("--max-streams", o->max_streams,
                 "live SSE streams at once (more get 503). The server keeps this\n"
                 "many threads (plus 32) for requests")
      ->type_name("N")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  app.add_option("--client-buffer", o->client_buffer,
                 "events queued for one SSE client before it is judged too slow\n"
                 "and closed (it resumes by Last-Event-ID)")
      ->type_name("BYTES")
      ->check(whole_number(4096))
      ->capture_default_str();
  app.footer(std::string(kServeFooter) + exit_status_footer("stopped by a signal", "cannot listen"));
  return [o] { return run_serve(*o); };
}

}  // namespace

RUNLOG_COMMAND("serve", "serve runs and conversations over HTTP and SSE, with a web log viewer", setup_serve, 60);

}  // namespace runlog::tools
