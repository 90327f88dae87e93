// tools/cmd_demo.cpp — `runlog demo`: a benchmark workload (W1..W4), in-process.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "tools/command.h"
#include "tools/workload.h"

namespace runlog::tools {
namespace {

constexpr const char* kDemoHelp = R"(runlog demo — run a workload in-process on the engine and print its figures

Usage: runlog demo [--runs-root DIR] [--workload W1|W2|W3|W4] [--durability none|batch]
                   [--records N | --seconds S] [--budget-mib N] [--rate R]
                   [--syncfs-files N] [--quiet]

  --runs-root DIR        where run folders go (default ./runs); one folder per active
                         run: <DIR>/demo-<W>-<durability>-<ms>/run-<i>/
  --workload W           W1 small (2 producers, 16 runs, 100-byte chunks; default)
                         W2 large (2 producers, 16 runs, 1 KiB chunks)
                         W3 many runs (2 producers, 256 runs, 100-byte chunks)
                         W4 flood (8 producers, 64 runs, 4 KiB stdout chunks, 10 s)
  --durability MODE      batch: acknowledged once fdatasync-ed, group commit (default)
                         none: acknowledged once written to the OS
  --records N            push N records in all (default: 2,000,000 for W1/W3,
                         200,000 for W2)
  --seconds S            push for S seconds, then drain (default for W4: 10)
  --budget-mib N         in-flight budget in MiB (default 64)
  --rate R               offer R records/s in all, on a fixed schedule (default: as
                         fast as the engine takes them); ackP99Us is then the latency
                         at that load
  --syncfs-files N       a group commit of at least N files is one syncfs (default 128;
                         0: one fdatasync per file)
  --quiet                no progress bar

Prints one JSON line on stdout:
  {"workload","durability","records","bytes","seconds","recordsPerSec","mbPerSec",
   "batches","fsyncs","ackP50Us","ackP99Us","peakRssBytes"}
A progress bar goes to stderr when it is a terminal.
)";

int cmd_demo(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kDemoHelp, stdout);
    return 0;
  }
  WorkloadOptions o;
  o.engine.runsRoot = args.value("--runs-root").value_or("runs");
  std::string workload = args.value("--workload").value_or("W1");
  o.spec = workload_spec(workload);
  if (o.spec.name.empty()) return usage_error("demo", fmt::format("unknown workload '{}' (W1, W2, W3 or W4)", workload));
  std::string durability = args.value("--durability").value_or("batch");
  if (durability == "batch") o.engine.durability = Durability::batch;
  else if (durability == "none") o.engine.durability = Durability::none;
  else return usage_error("demo", fmt::format("--durability must be none or batch, not '{}'", durability));
  auto records = args.number("--records");
  auto seconds = args.real("--seconds");
  auto budget = args.number("--budget-mib");
  auto rate = args.real("--rate");
  auto syncfs_files = args.number("--syncfs-files");
  bool quiet = args.flag("--quiet");
  if (!args.ok()) return usage_error("demo", args.error());
  if (auto extra = args.rest(); !extra.empty()) return usage_error("demo", fmt::format("unexpected argument '{}'", extra[0]));
  if (records && seconds) return usage_error("demo", "give --records or --seconds, not both");
  if (records) o.records = *records;
  if (seconds) o.seconds = *seconds;
  if (budget) o.engine.inFlightBudget = static_cast<std::size_t>(*budget) << 20;
  if (rate) {
    if (*rate <= 0) return usage_error("demo", "--rate must be above 0");
    o.rate = *rate;
  }
  if (syncfs_files) o.engine.syncfsFiles = static_cast<std::size_t>(*syncfs_files);

  const bool tty = !quiet && isatty(STDERR_FILENO);
  const std::uint64_t goal = o.records ? o.records : (o.seconds > 0 ? 0 : o.spec.default_records);
  const double goal_s = o.seconds > 0 ? o.seconds : o.spec.default_seconds;
  if (tty) {
    o.progress = [&](std::uint64_t pushed, double elapsed) {
      double frac = goal ? static_cast<double>(pushed) / static_cast<double>(goal) : elapsed / goal_s;
      frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
      int filled = static_cast<int>(frac * 30);
      fmt::print(stderr, "\r[{:=<{}}{: <{}}] {:3.0f}%  {} records  {:.1f} s", "", filled, "", 30 - filled,
                 frac * 100, pushed, elapsed);
      std::fflush(stderr);
    };
  }
  auto result = run_workload(o);
  if (tty) fmt::print(stderr, "\r\033[K");
  if (!result.ok()) {
    fmt::print(stderr, "runlog demo: {}\n", result.status().to_string());
    return 1;
  }
  fmt::print("{}\n", workload_result_json(o.spec, o.engine.durability, result.value()));
  fmt::print(stderr, "runlog demo: {} runs written under {}/{}\n", o.spec.runs, o.engine.runsRoot,
             result->task_id);
  return 0;
}

}  // namespace

RUNLOG_COMMAND("demo", "run a benchmark workload (W1..W4) in-process and print its figures", cmd_demo, 10);

}  // namespace runlog::tools
