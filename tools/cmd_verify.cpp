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

constexpr const char* kVerifyFooter = R"HELP(Every line is checked (CRC, UTF-8, JSON, keys and their order for its channel,
createdAt, escapes, bytes against text, lifecycle fields); every file (seqs
increase, damage, torn tails); every stream (seqs 1..N each once across its
channel files); every run (meta.json, state.json and durable.seq against the
folder and the log). A run that a writer holds open is checked only up to what
the writer has declared durable. The rules are in docs/verify.md.

Output: one line per problem on stdout, `file:offset: what` (offset: the byte
offset of the damaged line; 0 for a whole-file problem), sorted. On stderr, what
--repair did, a warning per run left abandoned (no writer holds it, yet
state.json says prepared or running: not a problem, and --repair leaves it
alone), and a one-line summary (runs, records, bytes, seconds); a progress bar
when stderr is a terminal and the tree is big.

)HELP";

struct VerifyArgs {
  std::vector<std::string> paths;
  bool repair = false;
  bool quiet = false;
};

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0); }

int run_verify(const VerifyArgs& args) {
  io::VerifyOptions opts;
  opts.repair = args.repair;
  const bool quiet = args.quiet;
  const std::vector<std::string>& paths = args.paths;

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
    return kExitFailed;
  }
  const io::VerifyReport& r = result.value();
  for (const std::string& line : r.repairs) fmt::print(stderr, "runlog verify: repair: {}\n", line);
  for (const std::string& line : r.warnings) fmt::print(stderr, "runlog verify: warning: {}\n", line);
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
    if (!r.warnings.empty()) notes += fmt::format(", {} abandoned", r.warnings.size());
    fmt::print(stderr, "runlog verify: {}{}, {} records, {}, {:.2f} s: {}\n", what, notes, r.records,
               mib(r.bytes), r.seconds,
               r.clean() ? std::string("clean")
                         : fmt::format("{} problem{}", r.problems.size(), r.problems.size() == 1 ? "" : "s"));
  }
  return r.clean() ? kExitOk : kExitFailed;
}

Runner setup_verify(CLI::App& app) {
  auto o = std::make_shared<VerifyArgs>();
  app.add_option("PATH", o->paths,
                 "a runs root (<root>/<task>/<run>/), a task folder, a run folder,\n"
                 "a conversation folder, a folder of those, or a single .jsonl file")
      ->type_name("")
      ->required()
      ->check(existing_path());
  app.add_flag("--repair", o->repair,
               "cut torn tails (and unacknowledged records past a hole beyond the\n"
               "durable watermark) as recovery would, say what was cut, then check\n"
               "again. Never touches a run that a writer holds open, and never\n"
               "rewrites corruption: damage with valid records after it stays a\n"
               "problem");
  app.add_flag("--quiet", o->quiet, "no summary line and no progress bar on stderr");
  app.footer(std::string(kVerifyFooter) +
             exit_status_footer("no problems", "problems found (or left after --repair)"));
  return [o] { return run_verify(*o); };
}

}  // namespace

RUNLOG_COMMAND("verify", "check runs and logs against every invariant of the format (--repair cuts torn tails)",
               setup_verify, 40);

}  // namespace runlog::tools
