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
#include "tools/views.h"

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

void print_table(const std::vector<RunRow>& rows) {
  std::vector<std::array<std::string, 7>> cells;
  cells.push_back({"TASK", "RUN", "STATUS", "ENTRIES", "BYTES", "STARTED", "DURATION"});
  for (const RunRow& r : rows) {
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

int run_ls(const LsOptions& o) {
  const std::string& root_path = o.root;
  const bool json = o.json;
  Listing listing;
  if (Status st = list_root(root_path).get(listing); !st.ok()) {
    fmt::print(stderr, "runlog ls: {}\n", st.to_string());
    return kExitFailed;
  }
  const std::vector<RunRow>& rows = listing.runs;
  const std::vector<ConversationRow>& convs = listing.conversations;
  for (const std::string& problem : listing.problems) fmt::print(stderr, "runlog ls: {}\n", problem);
  if (json) {
    std::string out;
    for (const RunRow& r : rows) out += run_row_json(r) + '\n';
    for (const ConversationRow& c : convs) out += conversation_row_json(c) + '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    if (!rows.empty()) print_table(rows);
    if (!convs.empty()) {
      std::size_t w = 12;
      for (const ConversationRow& c : convs) w = std::max(w, c.id.size());
      std::string out = rows.empty() ? "" : "\n";
      out += fmt::format("{:<{}}  {:>7}  {:>9}\n", "CONVERSATION", w, "ENTRIES", "BYTES");
      for (const ConversationRow& c : convs) {
        std::string line = fmt::format("{:<{}}  {:>7}  {:>9}{}", c.id, w, c.entries, human_bytes(c.bytes), c.live ? "  live" : "");
        out += line + "\n";
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
  }
  return listing.problems.empty() ? kExitOk : kExitFailed;
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
