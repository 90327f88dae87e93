// io/reader.h — reading runlog logs back: replay, filter, follow, summarize.
//
// A LogReader yields the entries of one stream in seq order. A stream is a run
// folder (<runsRoot>/<taskId>/<runId>/ with worker.jsonl, stdout.jsonl and
// stderr.jsonl, merged by seq), a conversation folder (<conversationsRoot>/<id>/
// with chunks.jsonl: StoredChunk lines, Entry::is_chunk()) or a single .jsonl
// file. find_sources() turns a
// path — a file, a run folder, a task folder or a whole runs root — into the
// streams below it, in a stable order (by task, then run, byte order).
//
//   runlog::io::LogReader reader;
//   std::vector<runlog::io::Source> sources;
//   if (auto st = runlog::io::find_sources("runs").get(sources); !st.ok()) { ... }
//   runlog::io::ReadFilter filter;
//   filter.after = 1000;                       // seq > 1000
//   filter.channels = runlog::io::channel_bit(runlog::Channel::stdout_);
//   for (const auto& source : sources) {
//     if (auto st = reader.open(source, filter); !st.ok()) { ... }
//     std::string out;
//     const runlog::io::Entry* e = nullptr;
//     runlog::Status st;
//     while ((st = reader.next(&e)).ok() && e != nullptr) {
//       runlog::io::append_jsonl(*e, reader.context(), &out);   // the contract's entry shape
//       if (out.size() >= (1 << 20)) { write(1, out.data(), out.size()); out.clear(); }
//     }
//     if (!st.ok()) { ... }                    // "<path>:<offset>: <what>"
//   }
//
// How it reads (docs/reading.md has the whole story):
// - Each channel file is read with large preads (64 KiB first, doubling to
//   ReaderOptions::max_read_bytes, 1 MiB) into a buffer with SIMDJSON_PADDING
//   bytes to spare, cut at the last '\n', and parsed with simdjson On-Demand
//   `parser.iterate_many()`. A line longer than the batch grows the batch; a
//   line longer than the buffer grows the buffer. Nothing is allocated per
//   record: buffers, the record index and the parser are reused. CRCs of own
//   lines are checked three lines at a time, before any of them is served.
// - runlog's own stream-chunk lines (crc checked) are taken apart by position
//   (their key order is fixed); lifecycle lines and lines written by other
//   implementations of the contract (context present, no crc, keys in any
//   order) go through On-Demand field by field. Values are kept as views of
//   the raw JSON text, so output copies bytes and never re-escapes.
// - The channels are merged by seq (a k-way merge of files whose seqs
//   already increase). ReadFilter::after positions each file by bisection over
//   byte offsets: no file is scanned to find its place.
// - Never past durable. A run is live while its writer holds the lock on
//   durable.seq (File::locked_by_other() on a read-only open). While live,
//   entries stop at the seq in durable.seq. Once not live, every whole, valid
//   record is served: a torn tail (damage with nothing valid after it) is
//   skipped with a note, and a hole in the seqs ends the stream there (what lies
//   past a hole was never acknowledged), as recovery would decide.
//
// Errors. Status codes: corruption ("<path>:<offset>: <what>") for a bad line
// with valid records after it, a seq that repeats or goes backwards, or a line
// that is not a contract entry; not_found for a path that does not exist;
// io_error with the OS error and path; refused for a symlink or special file
// where a stream file belongs.
//
// Threads. A LogReader is used by one thread at a time; give each thread its
// own (each holds one simdjson parser and its buffers). The free functions are
// thread-safe. run_ordered() spreads many sources over several threads and
// keeps their output in source order.
//
// Buffers. The reader owns every byte it parses (nothing you hand it needs
// padding). An Entry and the string_views it hands out point into those
// buffers: they stay valid until the next call to next(), refresh() or open()
// on the same reader; copy what must live longer. Memory per reader: three
// buffers of max_read_bytes (more while a longer line passes), their record
// indexes (24 bytes a line) and the parser (about 6 bytes per batch byte).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs.h"  // installed beside it, as <runlog/io/fs.h>
#include "runlog/status.h"
#include "runlog/types.h"

namespace runlog::io {

// ---------------------------------------------------------------------------
// Sources

/// What kind of stream a Source names.
enum class SourceKind : std::uint8_t {
  run,           ///< a run folder: worker.jsonl, stdout.jsonl, stderr.jsonl merged by seq
  file,          ///< one .jsonl file, alone
  conversation,  ///< a conversation folder: chunks.jsonl, StoredChunk lines (seqs 1..N)
};

/// One stream to read.
struct Source {
  SourceKind kind = SourceKind::run;
  std::string dir;   ///< the run or conversation folder, or the folder holding the file
  std::string file;  ///< kind == file: the file's name in `dir`; conversation: "chunks.jsonl"
  /// dir, or dir + "/" + file: for messages.
  std::string path() const;
};

/// The Source of the conversation folder `dir` (<conversationsRoot>/<id>).
Source conversation_source(std::string dir);

/// Whether `path` is a conversation folder: it holds chunks.jsonl and none of
/// a run's files (a folder with both is an error that find_sources() names).
/// `fs` null: the real file system. Any thread.
bool is_conversation_dir(const std::string& path, Fs* fs = nullptr);

/// The streams a path names, in a stable order:
/// - a regular file: that file (SourceKind::file);
/// - a conversation folder (is_conversation_dir()): that conversation;
/// - a run folder (it holds meta.json, durable.seq or a channel file): that run;
/// - a folder whose sub-folders are run folders (a task folder): those runs;
/// - otherwise a runs root: every <task>/<run> run folder below it, sorted by
///   task, then run (byte order).
/// Symbolic links below `path` are not followed (they are skipped). `fs` null:
/// the real file system. Errors: not_found, io_error.
Result<std::vector<Source>> find_sources(const std::string& path, Fs* fs = nullptr);

// ---------------------------------------------------------------------------
// What to read

/// A channel as a bit of ReadFilter::channels.
constexpr std::uint8_t channel_bit(Channel c) noexcept { return static_cast<std::uint8_t>(1u << static_cast<int>(c)); }
inline constexpr std::uint8_t kAllChannels = 0b111;

/// Which entries next() yields. Every condition must hold. An entry that
/// lacks the field a condition looks at does not match it: --type and --level
/// keep only lifecycle entries.
struct ReadFilter {
  std::uint64_t after = 0;               ///< seq > after (found by bisection, not by scanning)
  std::uint8_t channels = kAllChannels;  ///< channel_bit()s
  std::uint16_t types = 0;               ///< bits 1 << EventType; 0: any (and stream chunks too)
  std::uint8_t levels = 0;               ///< bits 1 << LogLevel; 0: any (and stream chunks too)
  std::string since;                     ///< createdAt >= since (ISO ms, 24 bytes); empty: none
  std::string until;                     ///< createdAt <= until (ISO ms, 24 bytes); empty: none
  std::uint64_t limit = 0;               ///< at most this many entries; 0: no limit
};

struct ReaderOptions {
  /// The file system; null: posix_fs().
  std::shared_ptr<Fs> fs;
  /// First read of a channel file, in bytes; each later read doubles, up to
  /// max_read_bytes (a line longer than that grows the buffer to hold it).
  std::size_t first_read_bytes = std::size_t{64} << 10;
  std::size_t max_read_bytes = std::size_t{1} << 20;
  /// simdjson iterate_many batch size; grown for a line that is longer.
  std::size_t batch_bytes = std::size_t{1} << 20;
  /// Check the crc of runlog's own lines (a mismatch is damage).
  bool check_crc = true;
  /// Let simdjson run stage 1 of the next batch on a thread of its own
  /// (measured slower on two cores, so off by default).
  bool simdjson_threads = false;
};

// ---------------------------------------------------------------------------
// Entries

/// The keys of a contract entry (and crc/bytes), as indexes for Entry::raw().
enum class Field : std::uint8_t {
  taskId, stepId, runId, seq, channel, eventId, type, level, createdAt, message, data, renderedLine,
  text, bytes, crc,
};
inline constexpr int kFieldCount = 15;
/// "taskId", ..., "crc".
std::string_view field_name(Field f) noexcept;

/// One entry, as next() found it: views into the reader's buffers.
class Entry {
 public:
  std::uint64_t seq() const noexcept { return seq_; }
  Channel channel() const noexcept { return channel_; }
  /// The line as it is in its file, without the '\n'.
  std::string_view line() const noexcept { return line_; }
  /// Bytes the record takes in its file: the line and its '\n' (a foreign
  /// file's last line may lack one).
  std::uint64_t size_on_disk() const noexcept { return line_.size() + (newline_ ? 1 : 0); }
  /// Where the line starts in its file, and which file (for messages).
  std::uint64_t offset() const noexcept { return offset_; }
  const std::string& file_path() const noexcept { return *path_; }
  /// The JSON text of a key's value exactly as it is in the line (a string
  /// with its quotes and escapes, `data` as the whole object); empty when the
  /// line does not have that key.
  std::string_view raw(Field f) const noexcept {
    const int i = static_cast<int>(f);
    if (lazy_ && (f == Field::text || f == Field::bytes)) resolve();
    return (present_ >> i) & 1u ? raw_[i] : std::string_view();
  }
  bool has(Field f) const noexcept { return !raw(f).empty(); }
  /// createdAt without its quotes (an ISO timestamp has no escapes).
  std::string_view created_at() const noexcept;
  /// Whether the line is runlog's own, crc checked, keys in the contract's
  /// order: then body() is the line's own keys, ready to copy.
  bool own_format() const noexcept { return own_; }
  /// A conversation's StoredChunk (SourceKind::conversation): then role()
  /// is its role without quotes and chunk() its chunk object as written.
  bool is_chunk() const noexcept { return chunk_kind_; }
  std::string_view role() const noexcept { return role_; }
  std::string_view chunk() const noexcept { return chunk_; }
  /// own_format(): the bytes between the line's '{' and the end of its last
  /// contract value (no crc, no bytes); empty otherwise.
  std::string_view body() const noexcept {
    if (lazy_) resolve();
    return body_;
  }

 private:
  friend class LogReader;
  // An own stream chunk's text ends at the crc or before `bytes`: found on
  // first use (a summary never needs it).
  void resolve() const noexcept;

  std::uint64_t seq_ = 0;
  std::uint64_t offset_ = 0;
  Channel channel_ = Channel::worker;
  bool newline_ = true;
  bool own_ = false;
  bool chunk_kind_ = false;
  mutable bool lazy_ = false;
  mutable std::uint32_t present_ = 0;  // bit i: raw_[i] is set
  std::uint32_t text_start_ = 0;       // lazy_: the text token's offset in the line
  std::string_view line_;
  std::string_view role_, chunk_;  // chunk_kind_
  mutable std::string_view body_;
  const std::string* path_ = nullptr;
  mutable std::array<std::string_view, kFieldCount> raw_{};
};

/// What the reader knows of the stream beside its lines.
struct RunContext {
  std::string meta_json;   ///< meta.json as on disk, without trailing whitespace; empty when missing
  std::string state_json;  ///< state.json likewise
  /// The run context as JSON string tokens from meta.json (quotes included);
  /// empty when meta.json lacks the key.
  std::string task_id, step_id, run_id;
  /// `{"taskId":…,"stepId":…,"runId":…,` (or `{` when meta.json is missing):
  /// what an own-format line's body is prefixed with.
  std::string jsonl_prefix;
  std::optional<RunStatus> status;  ///< state.json's status, when readable
  bool has_durable_file = false;    ///< durable.seq exists
  bool live = false;                ///< another process holds the writer's lock on durable.seq
  std::uint64_t durable_seq = 0;    ///< durable.seq's value (when has_durable_file)
};

// ---------------------------------------------------------------------------
// The reader

class LogReader {
 public:
  explicit LogReader(ReaderOptions options = {});
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  /// Opens a stream (closing the previous one): reads meta.json, state.json
  /// and durable.seq, asks whether the run is live, opens the channel files
  /// and, for filter.after > 0, finds each file's place by bisection.
  /// Errors: not_found (no such folder or file), corruption (meta.json or
  /// state.json is not a JSON object), io_error, refused.
  Status open(const Source& source, const ReadFilter& filter = {});

  /// The next entry that passes the filter, in seq order; *entry = nullptr
  /// when there is none now: the end, the durable watermark of a live run,
  /// the filter's limit, or a hole (see done()). Errors: corruption
  /// "<path>:<offset>: <what>", io_error. After an error the stream stays
  /// at the error.
  Status next(const Entry** entry);

  /// For following: reads durable.seq and the lock again (and state.json
  /// when the run is not live), then drops what was read past the last entry
  /// served, so the next next() reads the files again from there.
  Status refresh();

  /// The context as of open() or the last refresh().
  const RunContext& context() const noexcept;
  /// Whether following can stop: state.json says completed, failed or
  /// blocked and the run is not live (as of the last refresh), or the limit
  /// is reached. Meaningful once next() has said there is nothing more.
  bool finished() const noexcept;
  bool limit_reached() const noexcept;
  /// Things worth telling that are not errors: "stdout.jsonl: ignored a torn
  /// tail of 37 bytes at offset 1200 (no final newline)", "stopped at seq 17:
  /// seq 18 is missing (what lies past a hole was never acknowledged)".
  const std::vector<std::string>& notes() const noexcept;
  /// The highest seq served so far (0 before the first).
  std::uint64_t last_seq() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Output

/// Appends `e` as the contract's exact entry shape (WorkerLifecycleLogEntry
/// or StreamChunkLogEntry) and '\n': taskId, stepId, runId (the line's own
/// when it has them, else meta.json's), then the line's keys in the
/// contract's order; crc, bytes and unknown keys dropped. Values are copied as
/// raw JSON text.
void append_jsonl(const Entry& e, const RunContext& ctx, std::string* out);

/// Appends what the terminal showed: a stream chunk's text as it is, a
/// lifecycle entry's renderedLine and '\n'. With visible_controls, control
/// characters other than '\n' and '\t' are shown instead of sent: C0 and DEL
/// in caret notation ("^[" for ESC, "^M" for CR, "^?" for DEL), C1 (U+0080..
/// U+009F) as "M-^[" and the like. Errors: corruption when a string's escapes
/// are bad (a foreign line).
Status append_text(const Entry& e, bool visible_controls, std::string* out);

/// Appends a stream chunk's exact original bytes: base64-decoded `bytes`
/// when present, else `text`. A lifecycle entry appends nothing. Errors:
/// corruption when `bytes` is not base64.
Status append_raw(const Entry& e, std::string* out);

/// Appends a conversation's chunk (is_chunk()) as the contract's StoredChunk
/// `{"seq":N,"role":"…","chunk":{…}}` and '\n' (the line without its crc).
void append_stored(const Entry& e, std::string* out);

/// The messages view of a conversation: consecutive chunks of one role form
/// one ChatMessage, one JSON line each: {"role":"…","chunks":[…]}. Feed it
/// the chunks in seq order, then finish(). It copies what it keeps (the
/// entries may go away). One thread at a time.
class MessageWriter {
 public:
  /// Appends the message before `e` to *out when `e` starts a new one.
  void add(const Entry& e, std::string* out);
  /// Appends the last message, if any.
  void finish(std::string* out);

 private:
  std::string role_, chunks_;
  bool open_ = false;
};

/// Decodes a JSON string token (with its quotes) and appends its UTF-8.
/// false when it is not a well-formed JSON string (lone surrogates become
/// U+FFFD, as JSON.parse + UTF-8 output would show them).
bool append_unescaped(std::string_view token, std::string* out);

// ---------------------------------------------------------------------------
// Summary

/// A stream's LocalRunLogSummary and what `runlog summary` adds to it.
struct RunSummary {
  LocalRunLogSummary counts;
  std::array<std::uint64_t, kRunChannels> bytes{};  ///< line bytes ('\n' included) of the entries counted, per channel
  std::string first_created_at;                      ///< of the lowest seq; empty when none
  std::string last_created_at;                       ///< of the highest seq
};

/// Reads every entry of `source` (up to durable when live) and counts.
Result<RunSummary> summarize(LogReader& reader, const Source& source);

/// The JSON object `runlog summary` prints (no '\n'): totalEntries, lastSeq,
/// lifecycleEventCount, stdoutChunkCount, stderrChunkCount, firstCreatedAt,
/// lastCreatedAt (null when empty), bytes {worker, stdout, stderr}, live,
/// abandoned (is_abandoned(): no writer, yet prepared or running), durableSeq
/// (null without durable.seq), meta and state (the objects as on disk, null
/// when missing).
std::string summary_json(const RunSummary& summary, const RunContext& ctx);

// ---------------------------------------------------------------------------
// Many sources on several threads

/// Where run_ordered() puts a source's output: append to buffer(), call
/// flush() now and then (it hands a full buffer over and may wait while the
/// output ahead of it drains).
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  std::string& buffer() noexcept { return buf_; }
  /// Hands the buffer over when it holds at least `at` bytes.
  Status flush_if_full(std::size_t at = std::size_t{1} << 20) {
    return buf_.size() >= at ? flush() : Status::OK();
  }
  virtual Status flush() = 0;

 protected:
  std::string buf_;
};

/// Called on the calling thread, in source order: write(bytes) for the
/// output, then done(index, status) once per source.
struct OrderedSink {
  std::function<Status(std::string_view bytes)> write;
  std::function<void(std::size_t index, const Status& status)> done;
};

/// Runs work(i, reader, out) for i in [0, n) on up to `threads` threads (at
/// most n; 1 runs everything on the calling thread), each with its own
/// LogReader, and passes each source's output to sink.write in order of i,
/// as it comes (a source's output waits in memory, at most `max_buffered`
/// bytes per source, while earlier ones drain). A failing source does not stop
/// the others; an error from sink.write stops everything and is returned.
Status run_ordered(std::size_t n, unsigned threads, const ReaderOptions& options,
                   const std::function<Status(std::size_t index, LogReader& reader, ChunkWriter& out)>& work,
                   const OrderedSink& sink, std::size_t max_buffered = std::size_t{32} << 20);

}  // namespace runlog::io
