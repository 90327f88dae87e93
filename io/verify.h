// io/verify.h — checks every invariant of the SPEC over runs roots, run
// folders, conversation folders and single .jsonl files, and reports each
// problem as `file:offset: what` (offset: the byte offset of the damaged line,
// 0 for a whole-file problem). `runlog verify` is a thin layer over it; the
// rules are in docs/verify.md.
//
//   io::VerifyOptions opts;
//   opts.repair = true;                       // cut torn tails (never corruption)
//   io::VerifyReport report = io::verify(paths, opts).value();
//   for (const auto& p : report.problems) puts(p.to_string().c_str());
//
// What is checked, in short:
//   - every line: CRC and framing (check_line), valid UTF-8 and full JSON
//     validity (simdjson On-Demand, iterate_many over big reads), compact form,
//     keys and their order for the file's channel (docs/format.md), createdAt
//     in toISOString form, canonical string escapes, `bytes` as base64 whose
//     WHATWG decoding gives `text`, eventId/type/level/renderedLine of
//     lifecycle lines;
//   - per file: seqs strictly increase; damage followed by valid records is
//     corruption; a damaged tail is a torn tail (the ChannelScanner's rule);
//   - per stream: seqs 1..N, each once, across the channel files;
//   - per run: meta.json and state.json well-formed and consistent with the
//     folder names and with the log (LifecycleReplay), durable.seq well-formed
//     and not past the log.
// A live run (a writer holds the lock on its durable.seq) is checked only up to
// what the writer has declared durable; what lies past it may be in flight.
//
// Threads: verify() runs a pool of `threads` workers over the streams it
// found (a big file is split into 64 MiB segments the workers share), and
// joins them before it returns: the one place in io/ that starts threads, for
// a reader that must use both cores (the engine's write path starts none
// here). Each worker has its own simdjson parser and buffers. progress is
// called on the calling thread. verify() may be called from any thread;
// concurrent calls share nothing.
//
// Errors: verify() fails (invalid_argument) only when a given path does not
// exist or is neither a folder nor a regular .jsonl file; it then reads
// nothing. Everything found while checking — unreadable files included — is a
// problem in the report, never an error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fs.h"  // installed beside it, as <runlog/io/fs.h>
#include "runlog/status.h"

namespace runlog::io {

/// Where verify() is, for a progress bar.
struct VerifyProgress {
  std::uint64_t streams_done = 0;   ///< runs, conversations and single files finished
  std::uint64_t streams_total = 0;
  std::uint64_t bytes_done = 0;     ///< log bytes read
  std::uint64_t bytes_total = 0;    ///< log bytes found when the tree was walked
  double seconds = 0;
};

struct VerifyOptions {
  /// Cut torn tails (and unacknowledged records past a hole that lies beyond
  /// the durable watermark) the way recovery does, then check again. Never on
  /// a live run, never when the stream has corruption. See docs/verify.md.
  bool repair = false;
  /// Worker threads (>= 1).
  unsigned threads = 2;
  /// At most this many line problems are listed per file; the rest are
  /// counted in one last problem line.
  std::size_t max_problems_per_file = 100;
  /// Called on the calling thread about ten times a second while verify()
  /// works (not at all for a run that takes less).
  std::function<void(const VerifyProgress&)> progress;
  /// The file system; null = posix_fs().
  std::shared_ptr<Fs> fs;
};

/// One problem: `file:offset: what`.
struct VerifyProblem {
  std::string file;          ///< path, as given plus the components below it
  std::uint64_t offset = 0;  ///< byte offset of the damaged line; 0 for a whole-file problem
  std::string what;
  std::string to_string() const;
};

struct VerifyReport {
  /// Sorted by file, then offset: the same tree gives the same report.
  std::vector<VerifyProblem> problems;
  /// What --repair did, one line per cut: "<file>: cut 37 bytes at offset 1200 (torn tail)",
  /// sorted; and one line per stream it refused to repair, saying why.
  std::vector<std::string> repairs;
  /// Not problems (clean() ignores them), sorted: one line per run left
  /// abandoned (io::is_abandoned), "<run>: running (abandoned): ...".
  /// --repair leaves such a run as it is.
  std::vector<std::string> warnings;
  std::uint64_t runs = 0;           ///< run folders checked
  std::uint64_t conversations = 0;  ///< conversation folders checked
  std::uint64_t files = 0;          ///< single .jsonl files checked (given as such)
  std::uint64_t live = 0;           ///< streams a writer held open
  std::uint64_t unclosed = 0;       ///< runs whose writer stopped without closing them
  std::uint64_t records = 0;        ///< records checked
  std::uint64_t bytes = 0;          ///< log bytes checked
  double seconds = 0;
  bool clean() const { return problems.empty(); }
};

/// Checks every path: a runs root (<root>/<task>/<run>/), a task folder, a
/// run folder, a conversation folder (chunks.jsonl), a folder of those, or a
/// single .jsonl file. Errors: invalid_argument for a path that is missing or
/// of another kind (nothing is checked then).
Result<VerifyReport> verify(std::span<const std::string> paths, const VerifyOptions& options = {});

}  // namespace runlog::io
