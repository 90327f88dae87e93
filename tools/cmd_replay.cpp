// tools/cmd_replay.cpp — `runlog replay`: a run's entries in seq order, as
// contract JSON lines, as the terminal showed them, or as the original bytes;
// --follow keeps printing durable entries until the run is over.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/timefmt.h"
#include "io/reader.h"
#include "io/reader_follow.h"
#include "tools/chat.h"
#include "tools/command.h"
#include "tools/run_output.h"
#include "tools/ship/nats_replay.h"
#include "tools/views.h"

namespace runlog::tools {
namespace {

constexpr const char* kReplayFooter = R"HELP(PATH may also be nats://HOST:PORT/STREAM/<taskId>/<runId> (or .../conv/<id>):
a run or conversation shipped by `runlog ship`, read back from JetStream and
printed exactly as here; it takes --after and --follow.

PATH may also be a conversation folder (<conversationsRoot>/<id>, holding
chunks.jsonl): it takes --after, --limit and --format jsonl (StoredChunk lines
{"seq","role","chunk"}, the default) or messages (ChatMessage lines
{"role","chunks"}: consecutive chunks of one role form one message).

A run whose writer is still at work (it holds the lock on durable.seq) is read
up to the seq in durable.seq and no further. A run left by a crash is read up to
its last whole record; a torn tail is skipped (a note goes to stderr).

)HELP";

using Format = EntryFormat;

volatile sig_atomic_t g_interrupted = 0;
int g_sigpipe[2] = {-1, -1};

extern "C" void on_sigint(int) {
  g_interrupted = 1;
  if (g_sigpipe[1] >= 0) {
    char c = 1;
    ssize_t r = ::write(g_sigpipe[1], &c, 1);
    (void)r;
  }
}

struct Emitter {
  Format format = Format::jsonl;
  bool visible = false;

  Status emit(const io::Entry& e, const io::RunContext& ctx, std::string* out) const {
    return append_entry(format, visible, e, ctx, out);
  }
};

void print_notes(const std::vector<std::string>& notes) {
  for (const std::string& n : notes) fmt::print(stderr, "runlog replay: note: {}\n", n);
}

// Reads one source into out; the reader's notes are copied to *notes.
Status replay_source(io::LogReader& reader, const io::Source& src, const io::ReadFilter& filter,
                     const Emitter& em, io::ChunkWriter& out, std::vector<std::string>* notes,
                     std::uint64_t* emitted) {
  Status st = replay_run(reader, src, filter, em.format, em.visible, &out.buffer(), [&] { return out.flush(); }, emitted);
  *notes = reader.notes();
  return st;
}

// --follow: one source, printed as entries become durable.
int follow(const io::Source& src, const io::ReadFilter& filter, const Emitter& em) {
  if (::pipe2(g_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) g_sigpipe[0] = g_sigpipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked write or poll returns
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  io::LogReader reader;
  Status st = reader.open(src, filter);
  if (!st.ok()) {
    fmt::print(stderr, "runlog replay: {}\n", st.to_string());
    return 1;
  }
  io::RunWatcher watcher;
  (void)watcher.open(src.dir);
  std::string out;
  std::size_t noted = 0;
  auto flush = [&]() -> Status {
    Status w = write_all(STDOUT_FILENO, out);
    out.clear();
    return w;
  };
  for (;;) {
    const io::Entry* e = nullptr;
    while (!g_interrupted && (st = reader.next(&e)).ok() && e != nullptr) {
      if (!(st = em.emit(*e, reader.context(), &out)).ok()) break;
      if (out.size() >= (std::size_t{1} << 20) && !(st = flush()).ok()) break;
    }
    Status w = flush();
    for (; noted < reader.notes().size(); ++noted) print_notes({reader.notes()[noted]});
    if (g_interrupted) return 0;
    if (!w.ok()) {
      fmt::print(stderr, "runlog replay: {}\n", w.to_string());
      return 1;
    }
    if (!st.ok()) {
      fmt::print(stderr, "runlog replay: {}\n", st.to_string());
      return 1;
    }
    if (reader.finished()) return 0;
    bool interrupted = false;
    const auto woke = std::chrono::steady_clock::now();
    (void)watcher.wait(200, g_sigpipe[0], &interrupted);
    if (interrupted || g_interrupted) return 0;
    // Many small appends wake us often: take them in groups of at least 5 ms.
    const auto since = std::chrono::steady_clock::now() - woke;
    if (since < std::chrono::milliseconds(5)) std::this_thread::sleep_for(std::chrono::milliseconds(5) - since);
    if (!(st = reader.refresh()).ok()) {
      fmt::print(stderr, "runlog replay: {}\n", st.to_string());
      return 1;
    }
  }
}

struct ReplayArgs {
  std::string path;
  std::uint64_t after = 0, limit = 0;
  std::string format = "jsonl";
  std::vector<std::string> channels, types, levels;
  std::string since, until;
  bool follow = false;
};

int run_replay(const ReplayArgs& args) {
  io::ReadFilter filter;
  Emitter em;
  std::uint8_t channels = 0;
  std::uint16_t types = 0;
  std::uint8_t levels = 0;
  for (const std::string& c : args.channels)  // each checked by the option's validator
    for (int i = 0; i < kRunChannels; ++i)
      if (c == channel_name(static_cast<Channel>(i))) channels |= io::channel_bit(static_cast<Channel>(i));
  for (const std::string& t : args.types) types |= static_cast<std::uint16_t>(1u << static_cast<int>(*parse_event_type(t)));
  for (const std::string& l : args.levels) levels |= static_cast<std::uint8_t>(1u << static_cast<int>(*parse_level(l)));
  const bool since = !args.since.empty(), until = !args.until.empty();
  const std::string& path = args.path;
  const bool follow_flag = args.follow;
  if (ship::is_nats_url(path)) {  // a shipped run or conversation (docs/ship.md)
    if (channels || types || levels || since || until || args.limit != 0 || args.format != "jsonl")
      return usage_error("replay", "a nats:// address takes only --after and --follow");
    return ship::replay_nats(path, args.after, follow_flag);
  }
  if (io::is_conversation_dir(path)) {  // a conversation folder: StoredChunk or ChatMessage lines
    if (follow_flag || channels || types || levels || since || until)
      return usage_error("replay", "a conversation takes only --after, --limit and --format jsonl|messages");
    return replay_conversation(path, args.after, args.limit, args.format);
  }
  if (std::vector<std::string> convs = conversations_below(path); !convs.empty())
    return usage_error("replay", fmt::format("{} holds conversations ({} ...): give one conversation folder", path, convs[0]));

  if (args.format == "text") em.format = Format::text;
  else if (args.format == "raw") em.format = Format::raw;
  else if (args.format != "jsonl")
    return usage_error("replay", fmt::format("--format must be jsonl, text or raw for a run, not '{}'", args.format));
  if (em.format == Format::raw) {
    if (channels & io::channel_bit(Channel::worker))
      return usage_error("replay", "--format raw prints stream channels only (stdout, stderr), not worker");
    if (types || levels) return usage_error("replay", "--format raw prints stream chunks, which have no --type or --level");
    if (channels == 0) channels = io::channel_bit(Channel::stdout_) | io::channel_bit(Channel::stderr_);
  }
  filter.after = args.after;
  filter.limit = args.limit;
  filter.channels = channels ? channels : io::kAllChannels;
  filter.types = types;
  filter.levels = levels;
  if (since) filter.since = args.since;
  if (until) filter.until = args.until;
  em.visible = em.format == Format::text && ::isatty(STDOUT_FILENO);

  std::vector<io::Source> sources;
  if (Status st = io::find_sources(path).get(sources); !st.ok()) {
    fmt::print(stderr, "runlog replay: {}\n", st.to_string());
    return kExitFailed;
  }
  if (sources.empty()) {
    fmt::print(stderr, "runlog replay: no runs under {}\n", path);
    return kExitFailed;
  }
  if (follow_flag) {
    if (sources.size() != 1)
      return usage_error("replay", fmt::format("--follow takes one run folder or file; {} holds {} runs", path, sources.size()));
    return follow(sources[0], filter, em);
  }

  RunOutput output("replay", sources.size());
  Status st;
  if (filter.limit > 0 && sources.size() > 1) {
    // A limit in all: the runs one after another, each given what is left.
    std::uint64_t left = filter.limit;
    st = io::run_ordered(sources.size(), 1, {}, [&](std::size_t i, io::LogReader& reader, io::ChunkWriter& out) {
      if (left == 0) return Status::OK();
      io::ReadFilter f = filter;
      f.limit = left;
      std::uint64_t n = 0;
      Status s = replay_source(reader, sources[i], f, em, out, &output.notes[i], &n);
      left -= std::min(left, n);
      return s;
    }, output.sink);
  } else {
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    st = io::run_ordered(sources.size(), threads, {}, [&](std::size_t i, io::LogReader& reader, io::ChunkWriter& out) {
      return replay_source(reader, sources[i], filter, em, out, &output.notes[i], nullptr);
    }, output.sink);
  }
  return output.finish(st);
}

// A check by one of core's parsers: `what` and the value when it says no.
template <class Parse>
CLI::Validator parsed_by(const char* name, Parse parse, const char* what = "unknown value") {
  return CLI::Validator(
      [parse, what](std::string& s) -> std::string { return parse(s) ? "" : fmt::format("{} '{}'", what, s); }, name);
}

Runner setup_replay(CLI::App& app) {
  auto o = std::make_shared<ReplayArgs>();
  app.add_option("PATH", o->path,
                 "a run folder (<runsRoot>/<taskId>/<runId>), a task folder, a runs\n"
                 "root (every <task>/<run> below it, in order of task then run;\n"
                 "runs are read on all cores, their output stays in that order),\n"
                 "or one .jsonl file; or nats://... (below)")
      ->type_name("")
      ->required()
      ->check(CLI::Validator(
          [](std::string& p) { return ship::is_nats_url(p) ? std::string() : existing_path()(p); }, ""));
  app.add_option("--after", o->after,
                 "only entries with seq > N (each file finds its place by\n"
                 "bisection, without reading what comes before)")
      ->type_name("N")
      ->check(whole_number());
  app.add_option("--channel", o->channels,
                 "only channel C: worker, stdout or stderr; repeat the option\n"
                 "(or give C1,C2) for several. Default: all three; with\n"
                 "--format raw: stdout and stderr")
      ->type_name("C")
      ->delimiter(',')
      ->check(CLI::IsMember({"worker", "stdout", "stderr"}));
  app.add_option("--type", o->types,
                 "only lifecycle entries of type T: run_prepared,\n"
                 "checkpoint_slot_reserved, worker_started,\n"
                 "worker_execution_deferred, worker_exited, step_prepared,\n"
                 "step_completed, step_failed, step_blocked; repeat for several.\n"
                 "Stream chunks have no type, so they are left out")
      ->type_name("T")
      ->delimiter(',')
      ->check(parsed_by("TYPE", [](const std::string& s) { return parse_event_type(s).has_value(); }));
  app.add_option("--level", o->levels,
                 "only lifecycle entries of level L: debug, info, warn, error;\n"
                 "repeat for several. Stream chunks are left out")
      ->type_name("L")
      ->delimiter(',')
      ->check(parsed_by("LEVEL", [](const std::string& s) { return parse_level(s).has_value(); }));
  const auto iso = parsed_by("ISO", [](const std::string& s) { return parse_iso_ms(s).has_value(); },
                             "takes a time like 2026-11-21T10:17:00.123Z (UTC, milliseconds), not");
  app.add_option("--since", o->since, "only entries with createdAt >= ISO, e.g. 2026-11-21T10:17:00.123Z")
      ->type_name("ISO")
      ->check(iso);
  app.add_option("--until", o->until, "only entries with createdAt <= ISO (same form)")->type_name("ISO")->check(iso);
  app.add_option("--limit", o->limit, "at most N entries in all")->type_name("N")->check(whole_number());
  app.add_option("--format", o->format,
                 "jsonl  the contract's entries (WorkerLifecycleLogEntry,\n"
                 "       StreamChunkLogEntry), one JSON object per line\n"
                 "text   what the terminal showed: stdout and stderr text as it\n"
                 "       was, lifecycle entries as their renderedLine. When\n"
                 "       stdout is a terminal, control characters other than\n"
                 "       newline and tab are made visible (ESC as ^[)\n"
                 "raw    the exact bytes the worker wrote on the chosen stream\n"
                 "       channels (stdout, stderr), invalid UTF-8 included\n"
                 "messages  (a conversation only) ChatMessage lines")
      ->type_name("F")
      ->check(CLI::IsMember({"jsonl", "text", "raw", "messages"}))
      ->capture_default_str();
  app.add_flag("--follow", o->follow,
               "keep printing entries as they become durable; ends when the\n"
               "run's state.json says completed, failed or blocked and its\n"
               "writer has closed it, or on Ctrl-C (exit 0). PATH must be one\n"
               "run folder or one file");
  app.footer(std::string(kReplayFooter) +
             exit_status_footer("success", "a run could not be read (damage with valid records after it, an I/O "
                                           "error: file and byte offset on stderr)"));
  return [o] { return run_replay(*o); };
}

}  // namespace

RUNLOG_COMMAND("replay", "print runs' entries in seq order (contract JSON lines, text or raw bytes); --follow",
               setup_replay, 20);

}  // namespace runlog::tools
