// io/scanner.h — the one scanner of a channel file and the one decision from
// what it found to the verdict (SPEC "Recovery"). Every entry point goes
// through them: recovery at open (plan_recovery, io/recovery.h), verify and
// its --repair (io/verify*.cpp), ls and exec (peek_run), the readers.
//
// The record rule (docs/format.md, "The record rule"). A valid line is
// runlog's own
//   {"seq":<N>,<anything>,"crc":"<8 lowercase hex>"}\n
// where N is 1..2^64-1 in decimal without leading zeros and the CRC32C covers
// every byte before `,"crc":"` (no JSON parse: the CRC covers the content),
// or a line of another implementation of the contract (is_foreign_record(),
// parsed as JSON only when the line is not runlog's own). The framing and
// key orders are core/line_format.h.
//
// The scanner (ChannelScanner), per file: lines are read from offset 0. The
// first line that is not valid (or final bytes without '\n') starts the
// damaged region. If any later '\n'-terminated segment is a valid line, or a
// valid record hides at the end of a damaged line (its '\n' was damaged),
// that is corruption ("damage with valid records after it"); otherwise the
// region is a damaged tail. Seqs must strictly increase inside a file; a
// repeat or a step back is corruption. Like LevelDB's log::Reader with its
// Reporter, it hands each record and each damaged region to a ScanReporter.
//
// The decision (decide()), per stream: given where each file's valid records
// end, the end N of the gap-free prefix 1..N across the files, and the floor
// W: a damaged tail or records past N are cut when N >= W (torn tail, past a
// hole); N < W is corruption, and nothing may be changed.
//
// Streaming: files are read through File::pread in chunks (default 1 MiB); a
// line is validated incrementally (running CRC, first and last bytes kept), so
// memory stays bounded whatever the line or file length.
//
// Threads: none. A ChannelScanner (and its reporter) is used by one thread;
// the functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/line_format.h"
#include "io/fs.h"
#include "runlog/status.h"

namespace simdjson::dom {
class parser;
}

namespace runlog::io {

/// Bytes read per pread by the scanner unless told otherwise.
inline constexpr std::size_t kScanChunkBytes = std::size_t{1} << 20;
/// `,"crc":"` + 8 hex + `"}` + `\n`: the fixed end of every valid line.
inline constexpr std::size_t kCrcSuffixBytes = format::kCrcSuffixBytes;

// ---------------------------------------------------------------------------
// The record rule: one line

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

/// "path:offset: ", how a message names a place in a file.
std::string at_offset(const File& f, std::uint64_t offset);

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

// ---------------------------------------------------------------------------
// The scanner: one file

/// A valid line found by the scanner: its seq and where it lies.
struct ScannedRecord {
  std::uint64_t seq = 0;
  std::uint64_t offset = 0;  ///< of its first byte
  std::uint64_t length = 0;  ///< with the '\n'
  bool foreign = false;      ///< a line of another implementation (no crc)
};

/// A damaged region of a file: bytes that are not records.
struct ScanDamage {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  const char* what = "";   ///< what was wrong with its first line
  bool followed = false;   ///< a valid record follows it in the file: corruption
};

/// Told what a ChannelScanner finds, in file order (LevelDB's
/// log::Reader::Reporter). Called on the scanner's thread.
class ScanReporter {
 public:
  virtual ~ScanReporter() = default;
  /// Each record that next() returns.
  virtual void record(const File& file, const ScannedRecord& rec) {
    (void)file;
    (void)rec;
  }
  /// Each damaged region: a damaged tail once the end is reached, or damage
  /// followed by a record (just before next() returns the corruption).
  virtual void damage(const File& file, const ScanDamage& d) {
    (void)file;
    (void)d;
  }
};

/// Reads one file's valid records in order, checking the rules above.
///
///   ChannelScanner s(file);
///   ScannedRecord r; bool have;
///   while ((st = s.next(&r, &have)).ok() && have) { ... }
///   // ok and !have: s.valid_end() is where the torn tail starts (== s.size() when none)
class ChannelScanner {
 public:
  /// REQUIRES: file (and reporter, when given) outlive the scanner; chunk_bytes >= 1.
  explicit ChannelScanner(File& file, std::size_t chunk_bytes = kScanChunkBytes, ScanReporter* reporter = nullptr);
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

/// What the scan of one whole file found: the decision's input for a file.
struct ChannelScan {
  std::uint64_t size = 0;       ///< bytes read
  std::uint64_t valid_end = 0;  ///< where the damaged tail starts (== size when none)
  const char* torn_what = "";   ///< what was wrong with its first line
  std::uint64_t records = 0;    ///< records that the decision keeps (seq <= N)
  std::uint64_t foreign = 0;    ///< of which lines of another implementation
  bool past = false;            ///< a record past N lies in it
  std::uint64_t past_seq = 0;   ///< the first one: its seq and offset
  std::uint64_t past_offset = 0;
};

/// Scans the whole of `file` (a reporter, when given, is told everything),
/// with every record counted as kept. Errors: corruption, io_error.
Result<ChannelScan> scan_channel(File& file, ScanReporter* reporter = nullptr,
                                 std::size_t chunk_bytes = kScanChunkBytes);

// ---------------------------------------------------------------------------
// The decision: one stream

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

/// The verdict on a stream that is not corrupt: seqs 1..last_seq kept,
/// per-file cuts (in the order the files were given). Clean when nothing is
/// cut; a torn tail / past a hole otherwise.
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

/// The one decision (SPEC "Recovery"), from the scans of a stream's files
/// (`paths[i]` names file i in messages) that found no corruption inside a
/// file, the end N of the gap-free prefix 1..N across them, and the floor W:
///   - N >= W: the plan. Each file keeps what precedes its first record past
///     N (past a hole) or its damaged tail (torn tail); clean when nothing
///     is cut;
///   - N < W: corruption, naming the file and offset where seq N+1 should
///     have been (a damaged tail, else the record after the hole, else the end
///     of the first file); nothing may then be changed.
/// Pure.
Result<RecoveryPlan> decide(std::span<const ChannelScan> scans, std::span<const std::string> paths, std::uint64_t n,
                            std::uint64_t floor);

/// The decision for one file given alone (not a stream: its seqs need not
/// start at 1 nor be gap-free): only its damaged tail is cut, never a whole
/// valid line. Reads the whole file. Errors: corruption, io_error.
Result<RecoveryPlan> plan_single_file(File& file);

}  // namespace runlog::io
