// tools/cmd_ls.cpp — `runlog ls`: one line per run under a runs root, read
// from the small files only (meta/state/durable.seq, file sizes and the last
// line of each channel file), so that thousands of runs list quickly.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/timefmt.h"
#include "core/utf8.h"
#include "io/conversation_dir.h"
#include "io/fs.h"
#include "io/recovery.h"
#include "io/run_dir.h"
#include "tools/command.h"

namespace runlog::tools {
namespace {

constexpr const char* kLsFooter = R"HELP(One line per run, sorted by task then run:
  task, run     the folder names
  status        from state.json (prepared, running, completed, failed, blocked);
                "(live)" when a writer has the run open; "running (abandoned)"
                when none has, yet state.json says prepared or running (its
                runner is gone); "?" when state.json is missing or unreadable
                (`runlog verify` says why)
  entries       records: up to durable.seq for a live run, else the last good
                seq N of recovery's verdict (SPEC "Recovery": the floor, torn
                tails and holes above it); a corrupt run is named on stderr
                (file and byte offset), listed with 0 entries, and ls exits 1
  bytes         the size of worker.jsonl + stdout.jsonl + stderr.jsonl
  started       startedAt from state.json
  duration      startedAt to finishedAt; to now for a live run; to the last
                update for a run that is neither finished nor live
A live run costs a few small reads; any other run is scanned once, read-only.

With --json, one object per run:
  {"taskId","runId","status","entries","bytes","startedAt","durationSeconds","live",
   "abandoned"}

Conversations below ROOT get a table of their own (CONVERSATION, ENTRIES, BYTES,
"live" when a writer has it open); with --json one object per line:
  {"conversationId","entries","bytes","live"}

)HELP";

struct LsOptions {
  std::string root{kDefaultRunsDirectoryName};
  bool json = false;
};

struct Row {
  std::string task, run;
  std::optional<std::string> status;
  bool live = false;
  bool abandoned = false;  ///< io::is_abandoned()
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::optional<std::string> started;
  std::optional<double> duration;
};

// The last good seq N of a stream that no writer holds, by recovery's own
// read-only verdict (SPEC "Recovery", floor included); a corrupt stream is
// named on stderr (file and byte offset) and counted in *problems.
std::uint64_t checked_last_seq(const Result<io::RecoveryPlan>& plan, std::string_view what, int* problems) {
  if (plan.ok()) return plan->last_seq;
  fmt::print(stderr, "runlog ls: {}: {}\n", what, plan.status().to_string());
  ++*problems;
  return 0;
}

Row read_run(io::Dir& run, const std::string& task, const std::string& name, int* problems) {
  Row row;
  row.task = task;
  row.run = name;
  std::optional<std::uint64_t> durable;
  std::unique_ptr<io::File> ds;
  if (run.open_file("durable.seq", io::OpenMode::read_only, 0).get(ds).ok()) {
    bool locked = false;
    if (ds->locked_by_other().get(locked).ok()) row.live = locked;
    char buf[32];
    std::size_t got = 0;
    if (ds->pread(buf, sizeof buf, 0, &got).ok()) durable = io::parse_durable_seq(std::string_view(buf, got));
  }
  std::optional<RunStateSnapshot> state;
  std::string text;
  if (io::read_file(run, "state.json").get(text).ok()) {
    auto parsed = io::state_from_json(text);
    if (parsed.ok()) state = std::move(parsed).value();
  }
  for (const char* file : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"}) {
    std::unique_ptr<io::File> f;
    std::uint64_t size = 0;
    if (!run.open_file(file, io::OpenMode::read_only, 0).get(f).ok() || !f->size().get(size).ok()) continue;
    row.bytes += size;
  }
  row.entries = row.live ? durable.value_or(0) : checked_last_seq(io::peek_run(run), task + "/" + name, problems);
  if (state) {
    row.status = std::string(status_name(state->status));
    row.abandoned = io::is_abandoned(row.live, state->status);
    row.started = state->startedAt;
    std::optional<std::int64_t> from = parse_iso_ms(state->startedAt);
    std::optional<std::int64_t> to;
    if (state->finishedAt) to = parse_iso_ms(*state->finishedAt);
    else if (row.live) to = now_unix_ms();
    else to = parse_iso_ms(state->updatedAt);
    if (from && to) row.duration = static_cast<double>(*to - *from) / 1000.0;
  }
  return row;
}

struct ConvRow {
  std::string id;
  bool live = false;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

ConvRow read_conversation_row(io::Dir& dir, const std::string& id, int* problems) {
  ConvRow row;
  row.id = id;
  std::optional<std::uint64_t> durable;
  std::unique_ptr<io::File> ds;
  if (dir.open_file("durable.seq", io::OpenMode::read_only, 0).get(ds).ok()) {
    bool locked = false;
    if (ds->locked_by_other().get(locked).ok()) row.live = locked;
    char buf[32];
    std::size_t got = 0;
    if (ds->pread(buf, sizeof buf, 0, &got).ok()) durable = io::parse_durable_seq(std::string_view(buf, got));
  }
  std::unique_ptr<io::File> f;
  std::uint64_t size = 0;
  if (dir.open_file("chunks.jsonl", io::OpenMode::read_only, 0).get(f).ok() && f->size().get(size).ok()) {
    row.bytes = size;
    const std::string_view chunks[] = {io::kChunksFileName};
    row.entries = row.live ? durable.value_or(0)
                           : checked_last_seq(io::plan_stream_read_only(dir, chunks), id, problems);
  }
  return row;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string human_duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  auto total = static_cast<std::uint64_t>(s);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m{:02}s", total / 3600, total / 60 % 60, total % 60);
}

std::string json_row(const Row& r) {
  std::string out = "{\"taskId\":";
  append_json_string(&out, r.task);
  out += ",\"runId\":";
  append_json_string(&out, r.run);
  out += ",\"status\":";
  if (r.status) append_json_string(&out, *r.status);
  else out += "null";
  out += fmt::format(",\"entries\":{},\"bytes\":{},\"startedAt\":", r.entries, r.bytes);
  if (r.started) append_json_string(&out, *r.started);
  else out += "null";
  out += ",\"durationSeconds\":";
  out += r.duration ? fmt::format("{:.3f}", *r.duration) : std::string("null");
  out += r.live ? ",\"live\":true" : ",\"live\":false";
  out += r.abandoned ? ",\"abandoned\":true}" : ",\"abandoned\":false}";
  return out;
}

void print_table(const std::vector<Row>& rows) {
  std::vector<std::array<std::string, 7>> cells;
  cells.push_back({"TASK", "RUN", "STATUS", "ENTRIES", "BYTES", "STARTED", "DURATION"});
  for (const Row& r : rows) {
    std::string status = r.status.value_or("?");
    if (r.live) status += " (live)";
    if (r.abandoned) status = "running (abandoned)";
    cells.push_back({r.task, r.run, status, std::to_string(r.entries), human_bytes(r.bytes), r.started.value_or("-"),
                     r.duration ? human_duration(*r.duration) : std::string("-")});
  }
  std::array<std::size_t, 7> width{};
  for (const auto& c : cells)
    for (std::size_t i = 0; i < 7; ++i) width[i] = std::max(width[i], c[i].size());
  std::string out;
  for (const auto& c : cells) {
    std::string line;
    for (std::size_t i = 0; i < 7; ++i) {
      const bool right = i == 3 || i == 4 || i == 6;  // numbers
      if (i > 0) line += "  ";
      line += right ? fmt::format("{:>{}}", c[i], width[i]) : fmt::format("{:<{}}", c[i], width[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

bool is_run_folder(io::Dir& dir) {
  std::vector<std::string> names;
  if (!dir.list().get(names).ok()) return false;
  for (const std::string& n : names)
    if (n == "meta.json" || n == "state.json" || n == "durable.seq" || n == "worker.jsonl" || n == "stdout.jsonl" ||
        n == "stderr.jsonl")
      return true;
  return false;
}

std::vector<std::string> sorted_folders(io::Dir& dir) {
  std::vector<std::string> names;
  if (!dir.list().get(names).ok()) return {};
  std::sort(names.begin(), names.end());
  return names;
}

int run_ls(const LsOptions& o) {
  const std::string& root_path = o.root;
  const bool json = o.json;
  std::unique_ptr<io::Dir> root;
  if (Status st = io::posix_fs()->open_root(root_path, false, 0).get(root); !st.ok()) {
    fmt::print(stderr, "runlog ls: {}\n", st.to_string());
    return kExitFailed;
  }
  std::vector<Row> rows;
  std::vector<ConvRow> convs;
  int problems = 0;  // corrupt streams, named on stderr
  for (const std::string& task : sorted_folders(*root)) {
    std::unique_ptr<io::Dir> tdir;
    if (!root->open_dir(task, false, 0).get(tdir).ok()) continue;  // a file, a symlink: not a task folder
    if (auto has = tdir->exists("chunks.jsonl"); has.ok() && has.value()) {  // a conversation
      convs.push_back(read_conversation_row(*tdir, task, &problems));
      continue;
    }
    for (const std::string& run : sorted_folders(*tdir)) {
      std::unique_ptr<io::Dir> rdir;
      if (!tdir->open_dir(run, false, 0).get(rdir).ok() || !is_run_folder(*rdir)) continue;
      rows.push_back(read_run(*rdir, task, run, &problems));
    }
  }
  if (json) {
    std::string out;
    for (const Row& r : rows) {
      out += json_row(r);
      out += '\n';
    }
    for (const ConvRow& c : convs) {
      out += "{\"conversationId\":";
      append_json_string(&out, c.id);
      out += fmt::format(",\"entries\":{},\"bytes\":{},\"live\":{}}}\n", c.entries, c.bytes, c.live ? "true" : "false");
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    if (!rows.empty()) print_table(rows);
    if (!convs.empty()) {
      std::size_t w = 12;
      for (const ConvRow& c : convs) w = std::max(w, c.id.size());
      std::string out = rows.empty() ? "" : "\n";
      out += fmt::format("{:<{}}  {:>7}  {:>9}\n", "CONVERSATION", w, "ENTRIES", "BYTES");
      for (const ConvRow& c : convs) {
        std::string line = fmt::format("{:<{}}  {:>7}  {:>9}{}", c.id, w, c.entries, human_bytes(c.bytes), c.live ? "  live" : "");
        out += line + "\n";
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
  }
  return problems == 0 ? kExitOk : kExitFailed;
}

Runner setup_ls(CLI::App& app) {
  auto o = std::make_shared<LsOptions>();
  app.add_option("ROOT", o->root,
                 "the runs root: <ROOT>/<taskId>/<runId>/, or a conversations\n"
                 "root: <ROOT>/<conversationId>/chunks.jsonl")
      ->type_name("")
      ->check(existing_path())
      ->capture_default_str();
  app.add_flag("--json", o->json, "one JSON object per line instead of the table");
  app.footer(std::string(kLsFooter) + exit_status_footer("listed", "the root cannot be read, or a run or conversation is corrupt"));
  return [o] { return run_ls(*o); };
}

}  // namespace

RUNLOG_COMMAND("ls", "list the runs under a runs root: status, entries, bytes, start, duration", setup_ls, 50);

}  // namespace runlog::tools
