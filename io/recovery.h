// io/recovery.h — the one rule for what a record line is, the recovery
// scanner, and the one verdict (SPEC "Recovery") that every entry point
// gives: which bytes of a stream's files are whole records, where the
// gap-free prefix 1..N ends, whether that reaches the floor W, and what to cut.
//
// A valid line (docs/format.md, "The record rule") is runlog's own
//   {"seq":<N>,<anything>,"crc":"<8 lowercase hex>"}\n
// where N is 1..2^64-1 in decimal without leading zeros and the CRC32C covers
// every byte before `,"crc":"` (no JSON parse: the CRC covers the content),
// or a line of another implementation of the contract (is_foreign_record(),
// parsed as JSON only when the line is not runlog's own).
//
// Per file: lines are read from offset 0. The first line that is not valid
// (or final bytes without '\n') starts the damaged region. If any later
// '\n'-terminated segment is a valid line, that is corruption ("damage with
// valid records after it"); otherwise the region is a torn tail, to be cut.
// Seqs must strictly increase inside a file; a repeat or a step back is
// corruption. Across files (a stream's channels), a k-way merge takes seq
// 1, 2, ... from whichever file holds it next, and stops at the first seq that
// no file holds: N. Each file is then cut at its first record past N, or at
// its torn tail.
//
// Streaming: files are read through File::pread in chunks (default 1 MiB); a
// line is validated incrementally (running CRC, first and last bytes kept), so
// memory stays bounded whatever the line or file length.
//
// Threads: none. A ChannelScanner is used by one thread; the functions are
// reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "runlog/status.h"

namespace simdjson::dom {
class parser;
}
#include "runlog/types.h"

namespace runlog::io {

/// Bytes read per pread by the scanner unless told otherwise.
inline constexpr std::size_t kScanChunkBytes = std::size_t{1} << 20;
/// `,"crc":"` + 8 hex + `"}` + `\n`: the fixed end of every valid line.
inline constexpr std::size_t kCrcSuffixBytes = 19;

/// What check_line() thinks of one line.
struct LineVerdict {
  bool valid = false;
  bool foreign = false;      ///< valid as a line of another implementation (no crc; see is_foreign_record)
  std::uint64_t seq = 0;     ///< when valid
  const char* what = "";     ///< when not: "not a record", "bad seq", "no crc", "bad crc", "no final newline"
};

/// Checks one line, given with its final '\n' (a line without one is never
/// valid), as a line of runlog's own format. Pure.
LineVerdict check_line(std::string_view line) noexcept;

/// Whether the 19 bytes before the end of `line` (given with its '\n') have
/// the shape of runlog's crc suffix `,"xxx":"xxxxxxxx"}\n`, loosely (the
/// structural bytes only): such a line is runlog's own and must pass
/// check_line; a flipped bit cannot make it foreign.
bool has_own_suffix_shape(std::string_view line) noexcept;

/// The rule for a line written by another implementation of the contract
/// (SPEC "Logs written by other implementations"): without runlog's crc
/// suffix shape, one JSON object (any key order, any whitespace, "\r\n"
/// allowed) with a whole-number "seq" >= 1 and no "crc" key (the scanner
/// takes no foreign line longer than 64 MiB, to bound its memory). `line` is given
/// with or without its '\n'. *seq is set when true.
bool is_foreign_record(std::string_view line, simdjson::dom::parser& parser, std::uint64_t* seq);

/// check_line(), then is_foreign_record() for a line that is not runlog's own:
/// the verdict every entry point gives on one line. `line` ends with '\n'.
LineVerdict check_record_line(std::string_view line, simdjson::dom::parser& parser);

/// A valid line found by the scanner: its seq and where it lies.
struct ScannedRecord {
  std::uint64_t seq = 0;
  std::uint64_t offset = 0;  ///< of its first byte
  std::uint64_t length = 0;  ///< with the '\n'
  bool foreign = false;      ///< a line of another implementation (no crc)
};

/// Reads one file's valid records in order, checking the rules above.
///
///   ChannelScanner s(file);
///   ScannedRecord r; bool have;
///   while ((st = s.next(&r, &have)).ok() && have) { ... }
///   // ok and !have: s.valid_end() is where the torn tail starts (== s.size() when none)
class ChannelScanner {
 public:
  /// REQUIRES: file outlives the scanner; chunk_bytes >= 1.
  explicit ChannelScanner(File& file, std::size_t chunk_bytes = kScanChunkBytes);
  ~ChannelScanner();
  ChannelScanner(const ChannelScanner&) = delete;
  ChannelScanner& operator=(const ChannelScanner&) = delete;

  /// The next valid record (*have = true), or the end of the file (*have =
  /// false; the whole file has then been read and checked). Errors:
  /// corruption ("<path>:<offset>: <what>"), io_error from pread.
  Status next(ScannedRecord* rec, bool* have);

  /// After next() reported the end: where the valid records end (the torn
  /// tail's offset, or size() when there is none), the file's size, and what
  /// was wrong with the first damaged line ("" when none).
  std::uint64_t valid_end() const noexcept;
  std::uint64_t size() const noexcept;
  const char* torn_what() const noexcept;
  File& file() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Why a file is cut.
enum class CutReason : std::uint8_t { none, torn_tail, past_hole };

/// What recovery does with one file.
struct ChannelCut {
  std::uint64_t size = 0;     ///< bytes in the file when scanned
  std::uint64_t keep = 0;     ///< bytes kept: the end of its last record <= N
  std::uint64_t records = 0;  ///< records kept
  std::uint64_t foreign = 0;  ///< of which lines of another implementation (no crc)
  CutReason reason = CutReason::none;
  const char* torn_what = "";  ///< what the first damaged line was, for a torn tail
};

/// The outcome of the scan of a stream: seqs 1..last_seq kept, per-file cuts
/// (in the order the files were given).
struct RecoveryPlan {
  std::uint64_t last_seq = 0;
  std::uint64_t floor = 0;  ///< W the plan was made with
  std::vector<ChannelCut> channels;
  /// Records kept that another implementation wrote (no crc), all channels.
  std::uint64_t foreign_records() const noexcept {
    std::uint64_t n = 0;
    for (const ChannelCut& c : channels) n += c.foreign;
    return n;
  }
  /// Whether applying the plan would change a byte.
  bool cuts_anything() const noexcept {
    for (const ChannelCut& c : channels)
      if (c.keep < c.size) return true;
    return false;
  }
};

/// Called for every record 1..N in seq order, with the index of its file.
using RecordVisitor = std::function<Status(std::size_t file_index, const ScannedRecord& rec)>;

/// Scans the files of one stream (a run's three channels in Channel order, or
/// a conversation's one file) and plans the recovery (SPEC "Recovery"), given
/// the stream's floor W = max(durable.seq, state.json's lastEventSeq): the
/// highest seq something durable vouches for (see read_floor()). Reads every
/// byte once; writes nothing. The verdict:
///   - clean: nothing to cut;
///   - torn tail / past a hole: cuts, all of them above W (seqs 1..N, N >= W,
///     are kept);
///   - corruption (the error): damage with valid records after it, a seq that
///     repeats or goes backwards, or a record at or below W that is damaged or
///     missing (N < W). The message names the file and byte offset; nothing
///     must then be rewritten.
/// Other errors: io_error, or what `visit` returned.
Result<RecoveryPlan> plan_recovery(std::span<File* const> files, std::uint64_t floor,
                                   const RecordVisitor& visit = {}, std::size_t chunk_bytes = kScanChunkBytes);

/// plan_recovery() over byte strings (file i is named "file<i>" in messages):
/// for tests and fuzzers.
Result<RecoveryPlan> plan_recovery_bytes(std::span<const std::string_view> contents,
                                         std::size_t chunk_bytes = kScanChunkBytes, std::uint64_t floor = 0);

/// The floor W of a stream folder: max(durable.seq, state.json's
/// lastEventSeq), each counted only when present and well-formed (a torn
/// durable.seq vouches for nothing). `durable_seq` may be null (no file).
/// Errors: io_error reading them.
Result<std::uint64_t> read_floor(Dir& dir, File* durable_seq);

/// The read-only verdict on the stream in `dir` (its channel files named by
/// `channel_names`, in stream order; a missing one counts as empty): opens
/// what exists read-only, reads the floor, and plans. Creates, locks and
/// writes nothing, so a refusal changes nothing. The verdict of every entry
/// point that must not (or must not yet) change a byte: ls, exec's check,
/// the open of an existing stream before it creates anything.
/// Errors: as plan_recovery() (corruption names file and offset), io_error.
/// Any thread.
Result<RecoveryPlan> plan_stream_read_only(Dir& dir, std::span<const std::string_view> channel_names);

/// Carries out a plan made over the same files: truncates each file that
/// needs it, then fdatasyncs every file (the cut, and the records kept, are
/// durable before the next append: after a process kill they may still have
/// been only in the page cache). Appends one line per cut to *repairs (when
/// given), e.g. "stdout.jsonl: cut 37 bytes at offset 1200 (torn tail)".
Status apply_recovery_plan(std::span<File* const> files, const RecoveryPlan& plan,
                           std::vector<std::string>* repairs);

/// "stdout.jsonl: cut 37 bytes at offset 1200 (torn tail)" /
/// "... (past a hole at seq 17)". file_name is shown as given.
std::string describe_cut(std::string_view file_name, const ChannelCut& cut, std::uint64_t last_seq);

/// Replays worker.jsonl lines onto a RunStateSnapshot (SPEC "Run state"):
/// worker_started -> running; step_completed / step_failed / step_blocked ->
/// completed / failed / blocked with finishedAt = the event's createdAt;
/// worker_exited -> exitCode = data.exitCode when it is an integer;
/// checkpoint_slot_reserved -> checkpointSeq + 1; every event -> updatedAt =
/// its createdAt, lastEventSeq = its seq. Unknown event types change only
/// updatedAt and lastEventSeq. Keeps one simdjson parser between calls.
class LifecycleReplay {
 public:
  LifecycleReplay();
  ~LifecycleReplay();
  LifecycleReplay(const LifecycleReplay&) = delete;
  LifecycleReplay& operator=(const LifecycleReplay&) = delete;

  /// Applies one line (with or without its '\n'; any key order; crc ignored).
  /// Errors: invalid_argument when it is not JSON or lacks a string "type" or
  /// "createdAt" or an integer "seq"; *state is then unchanged.
  Status apply(std::string_view line, RunStateSnapshot* state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace runlog::io
