// tools/cmd_demo.cpp — `runlog demo`: a benchmark workload (W1..W4), in-process.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "tools/command.h"
#include "tools/workload.h"

namespace runlog::tools {
namespace {

struct DemoArgs {
  std::string root{kDefaultRunsDirectoryName};
  std::string workload = "W1";
  std::string durability = "batch";
  std::uint64_t records = 0;
  double seconds = 0;
  std::uint64_t budget_mib = 64;
  double rate = 0;  ///< 0: as fast as the engine takes them
  std::optional<std::uint64_t> syncfs_files;
  bool journal = false;
  bool quiet = false;
};

int run_demo(const DemoArgs& args) {
  WorkloadOptions o;
  o.engine.runsRoot = args.root;
  o.spec = workload_spec(args.workload);
  o.engine.durability = args.durability == "none" ? Durability::none : Durability::batch;
  o.records = args.records;
  o.seconds = args.seconds;
  o.engine.inFlightBudget = static_cast<std::size_t>(args.budget_mib) << 20;
  o.rate = args.rate;
  if (args.syncfs_files) o.engine.syncfsFiles = static_cast<std::size_t>(*args.syncfs_files);
  o.engine.journal = args.journal;
  const bool quiet = args.quiet;

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
    return kExitFailed;
  }
  fmt::print("{}\n", workload_result_json(o.spec, o.engine.durability, result.value()));
  fmt::print(stderr, "runlog demo: {} runs written under {}/{}\n", o.spec.runs, o.engine.runsRoot,
             result->task_id);
  return kExitOk;
}

Runner setup_demo(CLI::App& app) {
  auto o = std::make_shared<DemoArgs>();
  app.add_option("--runs-root", o->root,
                 "where run folders go; one folder per active run:\n"
                 "<DIR>/demo-<W>-<durability>-<ms>/run-<i>/")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--workload", o->workload,
                 "W1 small (2 producers, 16 runs, 100-byte chunks)\n"
                 "W2 large (2 producers, 16 runs, 1 KiB chunks)\n"
                 "W3 many runs (2 producers, 256 runs, 100-byte chunks)\n"
                 "W4 flood (8 producers, 64 runs, 4 KiB stdout chunks, 10 s)")
      ->type_name("W")
      ->check(CLI::IsMember({"W1", "W2", "W3", "W4"}))
      ->capture_default_str();
  add_durability_option(app, o->durability);
  auto* records = app.add_option("--records", o->records,
                                 "push N records in all (default: 2,000,000 for W1/W3,\n"
                                 "200,000 for W2)")
                      ->type_name("N")
                      ->check(whole_number());
  app.add_option("--seconds", o->seconds, "push for S seconds, then drain (default for W4: 10)")
      ->type_name("S")
      ->check(CLI::PositiveNumber)
      ->excludes(records);
  app.add_option("--budget-mib", o->budget_mib, "in-flight budget in MiB")
      ->type_name("N")
      ->check(whole_number(1))
      ->capture_default_str();
  app.add_option("--rate", o->rate,
                 "offer R records/s in all, on a fixed schedule (default: as\n"
                 "fast as the engine takes them); ackP99Us is then the latency\n"
                 "at that load")
      ->type_name("R")
      ->check(CLI::PositiveNumber);
  app.add_option("--syncfs-files", o->syncfs_files,
                 "a group commit of at least N files is one syncfs (default 128;\n"
                 "0: one fdatasync per file)")
      ->type_name("N")
      ->check(whole_number());
  app.add_flag("--journal", o->journal,
               "group commit through the journal: a wave is one append and one\n"
               "fdatasync of <DIR>/.journal/, whatever the number of runs");
  app.add_flag("--quiet", o->quiet, "no progress bar");
  app.footer(R"(Prints one JSON line on stdout:
  {"workload","durability","records","bytes","seconds","recordsPerSec","mbPerSec",
   "batches","fsyncs","ackP50Us","ackP99Us","peakRssBytes"}
A progress bar goes to stderr when it is a terminal.

)" + exit_status_footer("the workload ran", "it failed"));
  return [o] { return run_demo(*o); };
}

}  // namespace

RUNLOG_COMMAND("demo", "run a benchmark workload (W1..W4) in-process and print its figures", setup_demo, 10);

}  // namespace runlog::tools
