// bench/peers/support.h — what every ingest benchmark needs besides the
// writer it times: its sizes (environment knobs), a scratch folder on the file
// system under test, the output checks that run before a figure is reported,
// the pool of runlog's own encoded lines the peers write, and resident memory.
//
// Threads: the benchmark thread only, unless a function says otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runlog/status.h"
#include "tools/workload.h"

namespace runlog::bench {

/// The sizes, read once from the environment (defaults are smoke-sized):
///   RUNLOG_BENCH_RECORDS        records per W1/W3 run (and per peer run)   20000
///   RUNLOG_BENCH_W2_RECORDS     records per W2 run                          RECORDS / 4
///   RUNLOG_BENCH_W4_SECONDS     length of the W4 flood                      0.5
///   RUNLOG_BENCH_FSYNC_RECORDS  records for the fsync-per-record peer       100
///   RUNLOG_BENCH_SYNC_SAMPLES   fdatasyncs of a 4 KiB append to time        200
///   RUNLOG_BENCH_DIR            where scratch folders go (must be the file system under test)
///   RUNLOG_BENCH_NODE           the node binary                             node
///   RUNLOG_BENCH_SMOKE          set (CI smoke pass): no syncfs between runs (outputs are checked, not speed)
struct Knobs {
  std::uint64_t records = 20000;
  std::uint64_t w2_records = 5000;
  double w4_seconds = 0.5;
  std::uint64_t fsync_records = 100;
  std::uint64_t sync_samples = 200;
  std::string dir;
  std::string node = "node";
  bool smoke = false;
};
const Knobs& knobs();

/// Records one run of workload `w` pushes (W4: 0, it is timed instead).
std::uint64_t workload_records(const tools::WorkloadSpec& w);

/// A fresh folder under RUNLOG_BENCH_DIR (or $TMPDIR, or /var/tmp), removed
/// with its content when the object dies; then (unless RUNLOG_BENCH_SMOKE)
/// the file system is synced (syncfs) so that write-back of one benchmark
/// does not land in the next.
class Scratch {
 public:
  explicit Scratch(std::string_view tag);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

/// The check of runlog's output: every run folder <root>/<task>/<run> has
/// channel files that the recovery scanner reads whole (valid CRCs, seqs
/// 1..N gap-free across channels, no torn tail, nothing past a hole), and the
/// runs hold `expected` records in all (0: any number). Returns the total.
/// `on_line` (when given) sees every line in seq order, run by run.
Result<std::uint64_t> check_runs(const std::string& root, const tools::WorkloadResult& r, std::uint64_t expected,
                                 const std::function<void(std::string_view line)>& on_line = {});

/// runlog's own encoded lines for workload `w`: the whole output (in seq
/// order, run by run) of one `none` run of `records` records, checked as
/// above. The peers write these same bytes.
struct LinePool {
  std::vector<std::string> lines;  ///< each with its '\n'
  std::uint64_t bytes = 0;
  double mean_line() const { return lines.empty() ? 0 : static_cast<double>(bytes) / static_cast<double>(lines.size()); }
};
Result<LinePool> make_line_pool(const tools::WorkloadSpec& w, std::uint64_t records);

/// Runs argv[0] (looked up in PATH) with argv, waits, and returns what it
/// wrote on stdout (its stderr is this process's). Errors: spawn failure, or
/// an exit status other than 0 (with the output in the message).
Result<std::string> run_capture(const std::vector<std::string>& argv);

/// '\n' bytes in the regular files at and below `path`.
Result<std::uint64_t> count_lines(const std::string& path);

/// Resident memory: VmRSS now; VmHWM reset to the current RSS (returns freed
/// heap to the OS first, so the peak that follows is this run's).
std::uint64_t current_rss_bytes();
void reset_peak_rss();

/// Quantiles of a sample (sorted in place), in the unit given.
double quantile(std::vector<double>& v, double q);

}  // namespace runlog::bench
