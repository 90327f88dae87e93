// tests/support/run_files.h — helper verbs for tests that read what the engine
// wrote: a temp folder per test, lines and records of a run folder, the checks
// every line must pass (SPEC "Line formats"), and a reference UTF-8 decoder.
//
// Everything here reads files with plain POSIX/std calls and parses with
// simdjson, independently of the engine's own readers, so a bug in the engine's
// encoder or recovery cannot hide behind the same bug in the checker.
//
// Threads: every function may be called from any thread; none keeps state.
#pragma once

#include <ostream>

#include "runlog/options.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runlog {
// ctest lists parameterized tests with their parameter: print the mode's name.
inline void PrintTo(Durability d, std::ostream* os) { *os << (d == Durability::none ? "none" : "batch"); }
}  // namespace runlog

namespace runlog::testing {

/// A fresh folder under /tmp (mkdtemp), removed with everything in it when the
/// object dies. Aborts the test (ADD_FAILURE) when it cannot be made.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "runlog-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// path() + "/" + name.
  std::string operator/(std::string_view name) const;

 private:
  std::string path_;
};

/// The whole content of the file at `path`; nullopt when it cannot be read.
std::optional<std::string> ReadFile(const std::string& path);
/// Writes (replaces) the file at `path`; false on failure.
bool WriteFile(const std::string& path, std::string_view content);
/// The names in a folder (no "." / ".."), sorted; empty when it does not exist.
std::vector<std::string> ListDir(const std::string& path);
/// Whether anything (a symlink included) exists at `path`.
bool Exists(const std::string& path);

/// The lines of a file, each with its final '\n'; a last piece without '\n'
/// (a torn tail) is returned as it is. Empty when the file is missing.
std::vector<std::string> ReadLines(const std::string& path);

/// <root>/<task>/<run>.
std::string RunDir(const std::string& root, std::string_view task, std::string_view run);

/// The three channel files of a run, in Channel order.
inline constexpr const char* kChannelFiles[3] = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"};

/// One record of a run, as read back from its file.
struct Record {
  std::string file;       ///< "worker.jsonl", "stdout.jsonl" or "stderr.jsonl"
  std::size_t index = 0;  ///< line number in the file, from 0
  std::string line;       ///< the raw line, '\n' included
  std::uint64_t seq = 0;
  std::string channel;    ///< "worker", "stdout", "stderr"
  std::string createdAt;
  std::string crc;
  // stdout / stderr:
  std::string text;                  ///< "text", unescaped (UTF-8)
  std::optional<std::string> bytes;  ///< "bytes" as written (base64), when present
  std::string raw;                   ///< the chunk's exact bytes: base64-decoded "bytes", else text
  // worker:
  std::string type, level, eventId, message, renderedLine;
  std::string data;  ///< "data", minified JSON of the object
};

/// Every record of the three channel files of a run folder, file by file in
/// Channel order, each file in line order. A line that does not parse adds a
/// test failure and is skipped.
std::vector<Record> ParseRun(const std::string& run_dir);

/// The records of one channel file of a run, in line order.
std::vector<Record> ParseFile(const std::string& run_dir, std::string_view file);

/// Checks one line (given with its '\n'): ends in exactly one '\n', valid
/// UTF-8, one compact JSON object whose keys are, in order, those of SPEC
/// "Line formats" for its channel; seq a positive integer; createdAt in
/// toISOString form; crc 8 lowercase hex digits equal to the CRC32C of the
/// bytes before `,"crc":"`; "bytes" (when present) valid base64 of bytes that
/// are not valid UTF-8 and whose WHATWG decoding is "text"; worker lines carry
/// a known type and level, a UUID eventId, an object "data" and the
/// renderedLine "[createdAt] level type: message".
::testing::AssertionResult CheckLine(std::string_view line);

/// Every seq of the three channel files of a run, sorted.
std::vector<std::uint64_t> AllSeqs(const std::string& run_dir);

/// The whole-run check: every line of each channel file passes CheckLine and
/// names that file's channel; seqs increase strictly inside each file; across
/// the files they are exactly 1..N, each once. *last_seq (if given) is N.
::testing::AssertionResult CheckRun(const std::string& run_dir, std::uint64_t* last_seq = nullptr);

/// durable.seq parsed (20 zero-padded digits and '\n'); nullopt when malformed.
std::optional<std::uint64_t> ReadDurableSeq(const std::string& run_dir);

/// state.json, parsed with simdjson; `ok` is false (and `error` says why) when
/// it is missing or not the shape expected.
struct StateFile {
  bool ok = false;
  std::string error;
  std::string json;  ///< the raw content
  std::string status;
  std::int64_t attempt = 0;
  std::string startedAt, updatedAt;
  std::optional<std::string> finishedAt;
  std::uint64_t lastEventSeq = 0;
  std::uint64_t checkpointSeq = 0;
  std::optional<std::string> summary;
  std::optional<std::int64_t> exitCode;
};
StateFile ReadState(const std::string& run_dir);

/// What a WHATWG UTF-8 decoder (Node's Buffer.toString('utf8') / TextDecoder)
/// gives for `bytes`, as UTF-8: each maximal ill-formed subpart becomes U+FFFD.
/// A reference implementation written from the Encoding Standard, independent
/// of core/utf8.
std::string WhatwgDecode(std::string_view bytes);

/// Whether `s` is a createdAt as Date.prototype.toISOString writes it.
bool IsIsoMillis(std::string_view s);

}  // namespace runlog::testing
