// tools/workload.h — the benchmark workloads (W1..W4), run in-process on
// an Engine. Used by `runlog demo`, the tests and the benchmarks, so that all
// three measure the same thing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runlog/engine.h"

namespace runlog::tools {

struct WorkloadSpec {
  std::string name;        ///< "W1".."W4"
  int producers = 2;       ///< producer threads
  int runs = 16;           ///< active runs
  std::size_t chunk = 100; ///< bytes per stdout/stderr chunk
  bool mixed = true;       ///< 90% stdout, 9% stderr, 1% lifecycle; false: stdout only
  std::uint64_t default_records = 0;  ///< when neither records nor seconds is given
  double default_seconds = 0;
};

/// The spec of "W1".."W4" (case-insensitive); nullopt-like empty name when unknown.
WorkloadSpec workload_spec(const std::string& name);

struct WorkloadOptions {
  WorkloadSpec spec;
  Options engine;              ///< runsRoot, durability, ...
  std::uint64_t records = 0;   ///< total records to push (0: use seconds)
  double seconds = 0;          ///< push for this long, then drain
  /// Paced mode: records per second over all producers (each producer pushes
  /// rate / producers, on a fixed schedule from the start, sleeping when it is
  /// ahead). 0: as fast as possible (what `runlog demo` does).
  double rate = 0;
  std::string task_id;         ///< runs are <task_id>/run-<i>; empty: "demo-<w>-<durability>-<ms>"
  /// Called about 10 times a second from the calling thread with records pushed so far.
  std::function<void(std::uint64_t pushed, double elapsed)> progress;
};

struct WorkloadResult {
  std::string task_id;
  std::vector<std::string> run_ids;
  std::uint64_t records = 0;   ///< records acknowledged (lifecycle events included)
  std::uint64_t bytes = 0;     ///< encoded bytes written
  double seconds = 0;          ///< first push to last acknowledgement
  std::uint64_t batches = 0;
  std::uint64_t fsyncs = 0;
  double ackP50Us = 0, ackP99Us = 0;
  std::uint64_t peakRssBytes = 0;
  EngineStats stats;
};

/// Opens the runs, starts the producers, pushes, closes every run (so all is
/// durable), and reports. Errors: any engine error, with its message.
Result<WorkloadResult> run_workload(const WorkloadOptions& options);

/// The figures as one JSON line (the keys of `runlog demo`), without '\n'.
std::string workload_result_json(const WorkloadSpec& spec, Durability durability, const WorkloadResult& r);

/// VmHWM of this process, in bytes (0 when /proc is missing).
std::uint64_t peak_rss_bytes();

}  // namespace runlog::tools
