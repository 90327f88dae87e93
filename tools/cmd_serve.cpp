// tools/cmd_serve.cpp — `runlog serve`: the runs (and conversations) under a
// root over HTTP, live over SSE, with the web viewer at / (tools/serve/).
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tools/command.h"
#include "tools/serve/server.h"

namespace runlog::tools {
namespace {

constexpr const char* kServeHelp = R"(runlog serve — runs and conversations over HTTP, live over SSE, and a web viewer

Usage: runlog serve --runs-root DIR [--conversations-root DIR] [--listen HOST:PORT]
                    [--token-file F] [--cors-origin ORIGIN] [--max-streams N]
                    [--client-buffer BYTES]

  --runs-root DIR           the runs: DIR/<taskId>/<runId>/
  --conversations-root DIR  the conversations: DIR/<conversationId>/chunks.jsonl
  --listen HOST:PORT        default 127.0.0.1:8080; port 0 picks a free one. A
                            host other than loopback needs --token-file
  --token-file F            the file's first line is a token; every request must
                            then send "Authorization: Bearer <token>" (401 otherwise)
  --cors-origin ORIGIN      send Access-Control-Allow-Origin: ORIGIN (and answer
                            CORS preflights); no CORS without it
  --max-streams N           live SSE streams at once (default 1024; more get 503).
                            Each holds one thread of the server while it lasts
  --client-buffer BYTES     events queued for one SSE client before it is judged
                            too slow and closed (it resumes by Last-Event-ID);
                            default 8388608

Prints "listening on http://HOST:PORT/" on stdout once it accepts connections.

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

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
)";

int cmd_serve(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kServeHelp, stdout);
    return 0;
  }
  ServeOptions opt;
  auto runs = args.value("--runs-root");
  auto convs = args.value("--conversations-root");
  auto listen = args.value("--listen");
  auto token_file = args.value("--token-file");
  auto cors = args.value("--cors-origin");
  auto max_streams = args.number("--max-streams");
  auto client_buffer = args.number("--client-buffer");
  if (!args.ok()) return usage_error("serve", args.error());
  for (const std::string& r : args.rest()) return usage_error("serve", fmt::format("unexpected argument '{}'", r));
  if (!runs) return usage_error("serve", "--runs-root is needed");
  opt.runs_root = *runs;
  if (convs) opt.conversations_root = *convs;
  if (cors) opt.cors_origin = *cors;
  if (max_streams) {
    if (*max_streams == 0 || *max_streams > 100000) return usage_error("serve", "--max-streams takes 1..100000");
    opt.max_streams = static_cast<std::size_t>(*max_streams);
  }
  if (client_buffer) {
    if (*client_buffer < 4096) return usage_error("serve", "--client-buffer takes at least 4096");
    opt.client_buffer = static_cast<std::size_t>(*client_buffer);
  }
  if (listen) {
    const std::size_t colon = listen->rfind(':');
    if (colon == std::string::npos || colon == 0) return usage_error("serve", "--listen takes HOST:PORT");
    opt.host = listen->substr(0, colon);
    if (opt.host.size() > 2 && opt.host.front() == '[' && opt.host.back() == ']') opt.host = opt.host.substr(1, opt.host.size() - 2);
    const std::string port = listen->substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p < 0 || p > 65535) return usage_error("serve", fmt::format("bad port '{}'", port));
    opt.port = static_cast<int>(p);
  }
  if (token_file) {
    std::ifstream in(*token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      fmt::print(stderr, "runlog serve: cannot read the token file {}\n", *token_file);
      return 1;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty()) {
      fmt::print(stderr, "runlog serve: the token file {} holds no token\n", *token_file);
      return 1;
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
    return 1;
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
    return 1;
  }
  signals.join();
  return 0;
}

}  // namespace

RUNLOG_COMMAND("serve", "serve runs and conversations over HTTP and SSE, with a web log viewer", cmd_serve, 60);

}  // namespace runlog::tools
