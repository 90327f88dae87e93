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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/timefmt.h"
#include "io/reader.h"
#include "io/reader_follow.h"
#include "io/conversation_reader.h"
#include "tools/chat.h"
#include "tools/command.h"
#include "tools/run_output.h"
#include "tools/ship/nats_replay.h"

namespace runlog::tools {
namespace {

constexpr const char* kReplayHelp = R"(runlog replay — print the entries of runs in seq order

Usage: runlog replay PATH [--after N] [--channel C]... [--type T]... [--level L]...
                     [--since ISO] [--until ISO] [--limit N] [--format jsonl|text|raw]
                     [--follow]

PATH is a run folder (<runsRoot>/<taskId>/<runId>), a task folder, a runs root
(every <task>/<run> below it, in order of task then run; runs are read on all
cores, their output stays in that order), or one .jsonl file.

PATH may also be nats://HOST:PORT/STREAM/<taskId>/<runId> (or .../conv/<id>):
a run or conversation shipped by `runlog ship`, read back from JetStream and
printed exactly as here; it takes --after and --follow.

PATH may also be a conversation folder (<conversationsRoot>/<id>, holding
chunks.jsonl): it takes --after, --limit and --format jsonl (StoredChunk lines
{"seq","role","chunk"}, the default) or messages (ChatMessage lines
{"role","chunks"}: consecutive chunks of one role form one message).

  --after N        only entries with seq > N (each file finds its place by
                   bisection, without reading what comes before)
  --channel C      only channel C: worker, stdout or stderr; repeat the option
                   (or give C1,C2) for several. Default: all three; with
                   --format raw: stdout and stderr
  --type T         only lifecycle entries of type T: run_prepared,
                   checkpoint_slot_reserved, worker_started,
                   worker_execution_deferred, worker_exited, step_prepared,
                   step_completed, step_failed, step_blocked; repeat for several.
                   Stream chunks have no type, so they are left out
  --level L        only lifecycle entries of level L: debug, info, warn, error;
                   repeat for several. Stream chunks are left out
  --since ISO      only entries with createdAt >= ISO, e.g. 2026-11-21T10:17:00.123Z
  --until ISO      only entries with createdAt <= ISO (same form)
  --limit N        at most N entries in all
  --format F       jsonl  the contract's entries (WorkerLifecycleLogEntry,
                          StreamChunkLogEntry), one JSON object per line (default)
                   text   what the terminal showed: stdout and stderr text as it
                          was, lifecycle entries as their renderedLine. When
                          stdout is a terminal, control characters other than
                          newline and tab are made visible (ESC as ^[)
                   raw    the exact bytes the worker wrote on the chosen stream
                          channels (stdout, stderr), invalid UTF-8 included
  --follow         keep printing entries as they become durable; ends when the
                   run's state.json says completed, failed or blocked and its
                   writer has closed it, or on Ctrl-C (exit 0). PATH must be one
                   run folder or one file

A run whose writer is still at work (it holds the lock on durable.seq) is read
up to the seq in durable.seq and no further. A run left by a crash is read up to
its last whole record; a torn tail is skipped (a note goes to stderr).

Exit status: 0 success, 1 a run could not be read (damage with valid records
after it, an I/O error: file and byte offset on stderr), 2 bad usage.
)";

enum class Format { jsonl, text, raw };

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
    switch (format) {
      case Format::jsonl:
        io::append_jsonl(e, ctx, out);
        return Status::OK();
      case Format::text:
        return io::append_text(e, visible, out);
      case Format::raw:
        return io::append_raw(e, out);
    }
    return Status::OK();
  }
};

void print_notes(const std::vector<std::string>& notes) {
  for (const std::string& n : notes) fmt::print(stderr, "runlog replay: note: {}\n", n);
}

// Reads one source into out; the reader's notes are copied to *notes.
Status replay_source(io::LogReader& reader, const io::Source& src, const io::ReadFilter& filter,
                     const Emitter& em, io::ChunkWriter& out, std::vector<std::string>* notes,
                     std::uint64_t* emitted) {
  Status st = reader.open(src, filter);
  if (st.ok()) {
    const io::Entry* e = nullptr;
    std::string& buf = out.buffer();
    while ((st = reader.next(&e)).ok() && e != nullptr) {
      if (emitted) ++*emitted;
      if (!(st = em.emit(*e, reader.context(), &buf)).ok()) break;
      if (buf.size() >= (std::size_t{1} << 20) && !(st = out.flush()).ok()) break;
    }
  }
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

// "a,b" and repeated options, each checked by `parse`.
template <class Parse>
bool collect(const std::vector<std::string>& values, const char* option, Parse parse, std::string* error) {
  for (const std::string& v : values) {
    std::stringstream ss(v);
    std::string item;
    bool any = false;
    while (std::getline(ss, item, ',')) {
      any = true;
      if (!parse(item)) {
        *error = fmt::format("{}: unknown value '{}'", option, item);
        return false;
      }
    }
    if (!any) {
      *error = fmt::format("{} needs a value", option);
      return false;
    }
  }
  return true;
}

int cmd_replay(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kReplayHelp, stdout);
    return 0;
  }
  io::ReadFilter filter;
  Emitter em;
  std::string error;

  auto after = args.number("--after");
  auto limit = args.number("--limit");
  auto format = args.value("--format");
  auto since = args.value("--since");
  auto until = args.value("--until");
  const bool follow_flag = args.flag("--follow");
  std::uint8_t channels = 0;
  std::uint16_t types = 0;
  std::uint8_t levels = 0;
  const bool ok_channels = collect(args.values("--channel"), "--channel", [&](const std::string& s) {
    for (int c = 0; c < kRunChannels; ++c) {
      if (s == channel_name(static_cast<Channel>(c))) {
        channels |= io::channel_bit(static_cast<Channel>(c));
        return true;
      }
    }
    return false;
  }, &error);
  const bool ok_types = ok_channels && collect(args.values("--type"), "--type", [&](const std::string& s) {
    auto t = parse_event_type(s);
    if (t) types |= static_cast<std::uint16_t>(1u << static_cast<int>(*t));
    return t.has_value();
  }, &error);
  const bool ok_levels = ok_types && collect(args.values("--level"), "--level", [&](const std::string& s) {
    auto l = parse_level(s);
    if (l) levels |= static_cast<std::uint8_t>(1u << static_cast<int>(*l));
    return l.has_value();
  }, &error);
  if (!args.ok()) return usage_error("replay", args.error());
  if (!ok_levels) return usage_error("replay", error);
  std::vector<std::string> rest = args.rest();
  for (const std::string& r : rest) {
    if (r.size() > 1 && r[0] == '-') return usage_error("replay", fmt::format("unknown option '{}'", r));
  }
  if (rest.empty()) return usage_error("replay", "which run? give PATH (a run folder, a runs root or a .jsonl file)");
  if (rest.size() > 1) return usage_error("replay", fmt::format("unexpected argument '{}'", rest[1]));
  if (ship::is_nats_url(rest[0])) {  // a shipped run or conversation (docs/ship.md)
    if (channels || types || levels || since || until || limit || (format && *format != "jsonl"))
      return usage_error("replay", "a nats:// address takes only --after and --follow");
    return ship::replay_nats(rest[0], after.value_or(0), follow_flag);
  }
  if (io::is_conversation_dir(rest[0])) {  // a conversation folder: StoredChunk or ChatMessage lines
    if (follow_flag || channels || types || levels || since || until)
      return usage_error("replay", "a conversation takes only --after, --limit and --format jsonl|messages");
    return replay_conversation(rest[0], after.value_or(0), limit.value_or(0), format.value_or("jsonl"));
  }
  if (std::vector<std::string> convs = conversations_below(rest[0]); !convs.empty())
    return usage_error("replay", fmt::format("{} holds conversations ({} ...): give one conversation folder", rest[0], convs[0]));

  if (format) {
    if (*format == "jsonl") em.format = Format::jsonl;
    else if (*format == "text") em.format = Format::text;
    else if (*format == "raw") em.format = Format::raw;
    else return usage_error("replay", fmt::format("--format must be jsonl, text or raw, not '{}'", *format));
  }
  for (auto* iso : {&since, &until}) {
    if (*iso && !parse_iso_ms(**iso)) {
      return usage_error("replay", fmt::format("{} takes a time like 2026-11-21T10:17:00.123Z (UTC, milliseconds), not '{}'",
                                               iso == &since ? "--since" : "--until", **iso));
    }
  }
  if (em.format == Format::raw) {
    if (channels & io::channel_bit(Channel::worker))
      return usage_error("replay", "--format raw prints stream channels only (stdout, stderr), not worker");
    if (types || levels) return usage_error("replay", "--format raw prints stream chunks, which have no --type or --level");
    if (channels == 0) channels = io::channel_bit(Channel::stdout_) | io::channel_bit(Channel::stderr_);
  }
  filter.after = after.value_or(0);
  filter.limit = limit.value_or(0);
  filter.channels = channels ? channels : io::kAllChannels;
  filter.types = types;
  filter.levels = levels;
  if (since) filter.since = *since;
  if (until) filter.until = *until;
  em.visible = em.format == Format::text && ::isatty(STDOUT_FILENO);

  std::vector<io::Source> sources;
  if (Status st = io::find_sources(rest[0]).get(sources); !st.ok()) {
    fmt::print(stderr, "runlog replay: {}\n", st.to_string());
    return 1;
  }
  if (sources.empty()) {
    fmt::print(stderr, "runlog replay: no runs under {}\n", rest[0]);
    return 1;
  }
  if (follow_flag) {
    if (sources.size() != 1)
      return usage_error("replay", fmt::format("--follow takes one run folder or file; {} holds {} runs", rest[0], sources.size()));
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

}  // namespace

RUNLOG_COMMAND("replay", "print runs' entries in seq order (contract JSON lines, text or raw bytes); --follow", cmd_replay, 20);

}  // namespace runlog::tools
