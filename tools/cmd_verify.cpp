// tools/cmd_verify.cpp — `runlog verify`: io::verify() over the given paths,
// one line per problem on stdout, a summary and a progress bar on stderr.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "io/verify.h"
#include "tools/command.h"

namespace runlog::tools {
namespace {

constexpr const char* kVerifyHelp = R"HELP(runlog verify — check runs, conversations and log files against every invariant

Usage: runlog verify [--repair] [--quiet] PATH...

PATH is a runs root (<root>/<task>/<run>/), a task folder, a run folder, a
conversation folder, a folder of those, or a single .jsonl file.

Every line is checked (CRC, UTF-8, JSON, keys and their order for its channel,
createdAt, escapes, bytes against text, lifecycle fields); every file (seqs
increase, damage, torn tails); every stream (seqs 1..N each once across its
channel files); every run (meta.json, state.json and durable.seq against the
folder and the log). A run that a writer holds open is checked only up to what
the writer has declared durable. The rules are in docs/verify.md.

  --repair   cut torn tails (and unacknowledged records past a hole beyond the
             durable watermark) as recovery would, say what was cut, then check
             again. Never touches a run that a writer holds open, and never
             rewrites corruption: damage with valid records after it stays a
             problem.
  --quiet    no summary line and no progress bar on stderr
  -h, --help this help

Output: one line per problem on stdout, `file:offset: what` (offset: the byte
offset of the damaged line; 0 for a whole-file problem), sorted. On stderr, what
--repair did and a one-line summary (runs, records, bytes, seconds); a progress
bar when stderr is a terminal and the tree is big.

Exit status: 0 no problems, 1 problems found (or left after --repair), 2 bad usage.
)HELP";

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0); }

int cmd_verify(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kVerifyHelp, stdout);
    return 0;
  }
  io::VerifyOptions opts;
  opts.repair = args.flag("--repair");
  const bool quiet = args.flag("--quiet");
  if (!args.ok()) return usage_error("verify", args.error());
  std::vector<std::string> paths;
  for (std::string& a : args.rest()) {
    if (a.size() > 1 && a[0] == '-') return usage_error("verify", fmt::format("unknown option '{}'", a));
    paths.push_back(std::move(a));
  }
  if (paths.empty()) return usage_error("verify", "give at least one PATH");

  const bool tty = !quiet && isatty(STDERR_FILENO);
  bool drawn = false;
  if (tty) {
    opts.progress = [&](const io::VerifyProgress& p) {
      // Only for a tree big enough to be worth it.
      if (p.bytes_total < (std::uint64_t{256} << 20) && p.streams_total < 200 && p.seconds < 1.0) return;
      double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                                  : static_cast<double>(p.streams_done) / static_cast<double>(p.streams_total);
      frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
      int filled = static_cast<int>(frac * 30);
      fmt::print(stderr, "\r[{:=<{}}{: <{}}] {:3.0f}%  {}/{} streams  {}  {:.1f} s", "", filled, "", 30 - filled,
                 frac * 100, p.streams_done, p.streams_total, mib(p.bytes_done), p.seconds);
      std::fflush(stderr);
      drawn = true;
    };
  }
  auto result = io::verify(paths, opts);
  if (drawn) fmt::print(stderr, "\r\033[K");
  if (!result.ok()) {
    if (result.status().code() == Errc::invalid_argument) return usage_error("verify", result.status().message());
    fmt::print(stderr, "runlog verify: {}\n", result.status().to_string());
    return 1;
  }
  const io::VerifyReport& r = result.value();
  for (const std::string& line : r.repairs) fmt::print(stderr, "runlog verify: repair: {}\n", line);
  std::string out;
  for (const io::VerifyProblem& p : r.problems) {
    out += p.to_string();
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!quiet) {
    std::string what;
    auto part = [&](std::uint64_t n, const char* one, const char* many) {
      if (n == 0) return;
      if (!what.empty()) what += ", ";
      what += fmt::format("{} {}", n, n == 1 ? one : many);
    };
    part(r.runs, "run", "runs");
    part(r.conversations, "conversation", "conversations");
    part(r.files, "file", "files");
    if (what.empty()) what = "0 runs";
    std::string notes;
    if (r.live) notes += fmt::format(", {} live", r.live);
    if (r.unclosed) notes += fmt::format(", {} not closed", r.unclosed);
    fmt::print(stderr, "runlog verify: {}{}, {} records, {}, {:.2f} s: {}\n", what, notes, r.records,
               mib(r.bytes), r.seconds,
               r.clean() ? std::string("clean")
                         : fmt::format("{} problem{}", r.problems.size(), r.problems.size() == 1 ? "" : "s"));
  }
  return r.clean() ? 0 : 1;
}

}  // namespace

RUNLOG_COMMAND("verify", "check runs and logs against every invariant of the format (--repair cuts torn tails)",
               cmd_verify, 40);

}  // namespace runlog::tools
