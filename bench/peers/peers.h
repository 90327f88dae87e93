// bench/peers/peers.h — the writers runlog is measured against (TARGETS.md
// "Peers, measured in the same run"), each fed the same bytes as runlog: the
// lines of a LinePool, record i being pool.lines[i % pool.size()].
//
// Every function writes its output under the path it is given, times only
// the writing (files are opened before the clock starts), and returns what it
// did; the caller checks the output before reporting a figure. A failed
// write or sync is an error, never a figure.
//
// Threads: each function starts its own producer threads and joins them
// before returning; call it from one thread.
#pragma once

#include <cstdint>
#include <string>

#include "bench/peers/support.h"
#include "runlog/status.h"

namespace runlog::bench {

struct PeerResult {
  std::uint64_t records = 0;  ///< lines written
  std::uint64_t bytes = 0;
  std::uint64_t fsyncs = 0;
  double seconds = 0;  ///< first write to last byte handed to the OS (and synced, when it syncs)
  /// Latency of one operation (for the fdatasync peers), microseconds.
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

/// spdlog's async logger (one worker thread, queue 8192, overflow policy
/// `block`) with one basic_file_sink_mt to `path`, pattern "%v": `producers`
/// threads log the lines (without their '\n'; the sink adds it), so the file
/// holds the same bytes. Timed until the thread pool has drained and the file
/// is closed.
Result<PeerResult> spdlog_async(const LinePool& pool, std::uint64_t records, int producers, const std::string& path);

/// `producers` threads; per record: lock one mutex, write(2) the line,
/// fdatasync, unlock.
Result<PeerResult> naive_fsync_per_record(const LinePool& pool, std::uint64_t records, int producers,
                                          const std::string& path);

/// `producers` threads; per record: lock one mutex, append the line to a
/// buffer, write(2) it out once it holds 64 KiB, and when 1 ms has passed
/// since the last sync, write it out and fdatasync (under the mutex).
Result<PeerResult> naive_periodic_fsync(const LinePool& pool, std::uint64_t records, int producers,
                                        const std::string& path);

/// The disk: one thread writes `bytes` sequentially in 1 MiB writes (content
/// taken from the pool's lines) with fdatasync after every 4 MiB and at the end.
Result<PeerResult> disk_sequential(const LinePool& pool, std::uint64_t bytes, const std::string& path);

/// `samples` times: append 4 KiB to one file and fdatasync it; the latency of
/// each append + fdatasync.
Result<PeerResult> fdatasync_append(std::uint64_t samples, const std::string& path);

/// `rounds` times: append 4 KiB to each of `files` files in `dir`, then
/// fdatasync them all, one after another (threads == 1) or from `threads`
/// threads at once; the latency of each round's syncs.
Result<PeerResult> fdatasync_files(int files, int threads, std::uint64_t rounds, const std::string& dir);

/// What a TypeScript runner does today (bench/peers/ts_runner.mjs, run with
/// Node as a subprocess): per record, build the contract's entry object,
/// JSON.stringify it and fs.writeSync the line to its run's channel file;
/// with fsync_every > 0, fdatasync each file after every fsync_every records
/// written to it (and at the end). The script times itself. `pool_path` holds
/// the pool's lines (the records' content); `runs` run folders go under `dir`.
Result<PeerResult> node_writer(const std::string& pool_path, std::uint64_t records, int runs, int fsync_every,
                               const std::string& dir);

}  // namespace runlog::bench
