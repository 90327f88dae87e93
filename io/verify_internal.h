// io/verify_internal.h — what the files of `runlog verify` share (see
// io/verify.h for the API, docs/verify.md for the rules). The tree:
//   verify.cpp          the pool: streams and segments to workers, the report
//   verify_walk.cpp     finding streams below the given paths, symlinks
//   verify_prepare.cpp  a stream's small files (durable.seq, state.json,
//                       meta.json) and its log files cut into segments
//   verify_scan.cpp     one segment: lines split and judged by the record
//                       rule (io/scanner.h), damage regions, the set hash
//   verify_record.cpp   one record against the contract: keys in order,
//                       values (docs/format.md); lines of other implementations
//   verify_escapes.cpp  canonical JSON string escapes, 64 bytes at a time
//   verify_verdict.cpp  a stream's segments joined; the verdict through the
//                       scanner and the one decision (io/scanner.h decide())
//   verify_run_checks.cpp  meta.json, state.json, durable.seq against the log
//   verify_repair.cpp   --repair: recovery's own plan, applied
//
// Threads: a Scanner belongs to one worker; a StreamCheck is prepared by one
// worker, its segments scanned by any, and finalized by the one that ends the
// last segment (StreamCheck::pending); the Verifier's queues are under its mutex.
#pragma once

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "io/recovery.h"
#include "io/run_dir.h"
#include "io/verify.h"

namespace runlog::io::verify_detail {

namespace od = simdjson::ondemand;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBytes = std::size_t{8} << 20;        // one pread
constexpr std::size_t kSpanBytes = std::size_t{1} << 20;        // lines per iterate_many call, about
constexpr std::uint64_t kSegmentBytes = std::uint64_t{64} << 20;  // files of 2x this are split
constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;
constexpr std::string_view kRepairHint = "run `runlog verify --repair`";

constexpr std::string_view kMetaFile = "meta.json";
constexpr std::string_view kStateFile = "state.json";
constexpr std::string_view kChunksFile = "chunks.jsonl";

// What a file's lines must be.
enum class Kind : std::uint8_t { worker, stdout_, stderr_, chunks, any };

inline Kind kind_of_file(std::string_view name) {
  if (name == "worker.jsonl") return Kind::worker;
  if (name == "stdout.jsonl") return Kind::stdout_;
  if (name == "stderr.jsonl") return Kind::stderr_;
  if (name == kChunksFile) return Kind::chunks;
  return Kind::any;
}

inline std::string join_path(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (!s.empty() && s.back() != '/') s += '/';
  s += name;
  return s;
}

inline std::string base_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

inline std::string dir_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

// The element of the set hash: sum of mix(seq) over a file's seqs equals the
// sum over 1..N exactly when the multiset is {1..N} (up to 2^-64).
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::uint64_t hash_range(std::uint64_t n) noexcept {
  std::uint64_t h = 0;
  for (std::uint64_t i = 1; i <= n; ++i) h += mix(i);
  return h;
}

/// Shows a string from a line in a message: at most 60 bytes, control bytes escaped.
std::string shown(std::string_view s);
/// What a simdjson error means, in words.
std::string json_problem(simdjson::error_code e);
/// "" or what is wrong with the escapes of the raw content of a JSON string.
std::string check_escapes(std::string_view raw);

// ---------------------------------------------------------------------------
// Scanning one segment of one file

struct Damage {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t lines = 0;
  const char* what = "";        // of its first line
  std::uint64_t prev_seq = 0;   // last valid seq before it in the file (0: none)
  bool followed = false;        // a valid line follows it in the file
  std::uint64_t next_seq = 0;   // the seq of that line
};

// What the worker file says about the run's state, up to state.json's lastEventSeq.
struct ReplayOut {
  RunStateSnapshot state;         // from the initial state, events applied
  bool complete = true;           // every worker line <= `to` was applied
  std::uint64_t to = 0;           // replay events with seq <= to
  std::uint64_t status_seq = 0;   // last status-changing event
  std::string status_type;
};

struct SegmentResult {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;         // where the scan ended (a line boundary, or the limit line)
  bool hit_limit = false;        // stopped at a line with seq > limit (at `end`)
  std::uint64_t records = 0;
  std::uint64_t foreign = 0;     // of which lines of another implementation (no crc)
  std::uint64_t hash = 0;
  std::uint64_t max_seq = 0;
  std::uint64_t first_seq = 0, first_off = 0;
  std::uint64_t last_seq = 0, last_off = 0;
  bool order_problem = false;
  std::vector<Damage> damage;
  std::vector<VerifyProblem> problems;
  std::uint64_t dropped = 0;     // problems not listed (over the cap)
  std::uint64_t bytes = 0;
};

struct ScanTask {
  File* file = nullptr;
  std::string path;
  Kind kind = Kind::any;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;      // when !to_eof
  bool to_eof = true;
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  ReplayOut* replay = nullptr;  // worker.jsonl: replay events <= replay->to
  std::size_t max_problems = 100;
  SegmentResult* out = nullptr;
};

struct LineRef {
  std::size_t pos;       // in the read buffer
  std::size_t len;       // with '\n'
  std::uint64_t offset;  // in the file
  std::uint64_t seq;
};

// One per worker thread: a parser and buffers, reused for every segment.
class Scanner {
 public:
  explicit Scanner(std::atomic<std::uint64_t>* bytes_done) : bytes_done_(bytes_done) {
#ifdef SIMDJSON_THREADS_ENABLED
    parser_.threaded = false;  // the pool gives the parallelism
#endif
  }

  void scan(const ScanTask& t);

 private:
  void problem(std::uint64_t offset, std::string what) {
    SegmentResult& r = *task_->out;
    if (r.problems.size() >= task_->max_problems) {
      ++r.dropped;
      return;
    }
    r.problems.push_back({task_->path, offset, std::move(what)});
  }
  void valid_line(const LineRef& l);
  void count_record(const LineRef& l);
  void foreign_line(const LineRef& l);
  std::string check_foreign(simdjson::dom::object obj) const;
  void damaged_line(std::uint64_t offset, std::uint64_t len, const char* what);
  void flush();
  void check_one(const LineRef& l);
  std::string check_doc(od::document_reference doc, const char* base, const LineRef& l);
  void after_doc(const LineRef& l, const std::string& what);

  std::atomic<std::uint64_t>* bytes_done_;
  od::parser parser_;
  std::vector<char> buf_;
  std::vector<char> line_buf_;
  std::string decoded_;
  std::vector<char> escaped_;
  std::string chunk_fragment_;  // a conversation chunk, re-encoded to check it against the contract
  LifecycleReplay replay_;
  simdjson::dom::parser foreign_parser_;  // lines of another implementation
  const ScanTask* task_ = nullptr;
  std::vector<LineRef> batch_;
  std::size_t batch_bytes_ = 0;
  std::optional<Damage> open_damage_;
  // What check_doc found of a worker line (for the replay).
  std::string_view type_;
};

// ---------------------------------------------------------------------------
// Streams

enum class StreamType : std::uint8_t { run, conversation, file };

struct Job {
  StreamType type = StreamType::run;
  std::string root;                 // a path given by the user
  std::vector<std::string> comps;   // folders below it, down to the stream's folder
  std::string file_name;            // StreamType::file: the file, in that folder
  std::string path;                 // the stream's folder (or file), for messages
  std::uint64_t bytes = 0;          // for progress
};

// One channel (or single) file of a stream, and its segments.
struct FileCheck {
  std::string name;
  std::string path;
  Kind kind = Kind::any;
  bool present = false;
  std::vector<std::unique_ptr<File>> handles;  // one per segment (a File is used by one thread)
  std::vector<SegmentResult> segs;
  std::vector<ScanTask> tasks;
};

struct Meta {
  bool present = false;
  bool ok = false;
  RunMetadata meta;
};

struct StreamCheck {
  Job* job = nullptr;
  std::unique_ptr<Dir> dir;
  bool live = false;
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  // durable.seq
  bool durable_present = false;
  std::optional<std::uint64_t> durable;  // well-formed (empty counts as 0)
  std::string durable_text;
  // state.json
  bool state_present = false;
  std::optional<RunStateSnapshot> state;
  std::string state_error;
  Meta meta;
  std::string meta_error;
  std::string task_id, run_id;  // the folder names
  ReplayOut replay;
  std::vector<FileCheck> files;
  std::atomic<int> pending{0};
  std::vector<VerifyProblem> problems;  // stream-level problems found in prepare
  // Outcome.
  bool repairable = false;   // only torn tails / unacknowledged records past a hole
  bool blocked = false;      // problems --repair does not fix
  bool unclosed = false;
  bool repaired = false;     // --repair changed files: check again
  bool foreign_only = false; // every record was written by another implementation (no crc)
  std::uint64_t records = 0, bytes = 0;
};

struct JobResult {
  std::vector<VerifyProblem> problems;
  std::vector<std::string> repairs;
  std::vector<std::string> warnings;
  std::uint64_t records = 0, bytes = 0;
  bool live = false, unclosed = false;
};


/// Names from a real path: the folder of `path` and its parent.
bool real_names(const std::string& path, std::string* self, std::string* parent, std::string* grandparent_path);

class Verifier {
 public:
  Verifier(const VerifyOptions& o, std::shared_ptr<Fs> fs) : opts_(o), fs_(std::move(fs)), posix_(o.fs == nullptr) {}

  Status discover(const std::string& path);
  Result<VerifyReport> run();

 private:
  struct Task {
    std::size_t job;
    std::size_t file;
    std::size_t seg;
  };

  void walk_folder(const std::string& root, Dir& dir, std::vector<std::string>& comps, int depth);
  std::uint64_t stat_bytes(const std::string& folder, std::initializer_list<std::string_view> names);

  void worker_loop(Scanner& scanner);
  void start_job(std::size_t j, Scanner& scanner);
  void segment_done(std::size_t j, Scanner& scanner);
  void prepare(StreamCheck& s, bool split);
  void finalize(StreamCheck& s, JobResult* out, bool allow_repair);
  void check_inline(Job& job, Scanner& scanner, JobResult* out);
  Status open_stream_dir(const Job& job, std::unique_ptr<Dir>* out);
  void repair(StreamCheck& s, JobResult* out);

  const VerifyOptions& opts_;
  std::shared_ptr<Fs> fs_;
  bool posix_ = true;  // the real file system: symlinks are looked for with lstat
  std::vector<Job> jobs_;
  std::vector<VerifyProblem> walk_problems_;

  std::vector<std::unique_ptr<StreamCheck>> checks_;
  std::vector<JobResult> results_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> parts_;
  std::size_t next_job_ = 0;
  std::size_t finished_ = 0;
  std::atomic<std::uint64_t> bytes_done_{0};
  std::atomic<std::uint64_t> streams_done_{0};
};

/// The task and run folder names of a run, for meta.json's ids.
void init_ids(StreamCheck& s);

// One file's segments, joined: damage regions merged across boundaries, seq
// order checked across them, a damaged tail judged by the ChannelScanner.
struct FileSummary {
  std::uint64_t records = 0, hash = 0, max_seq = 0, bytes = 0;
  std::uint64_t foreign = 0;    // records of another implementation (no crc)
  bool order_problem = false;
  std::vector<Damage> damage;   // merged; the last one may be the torn tail
  bool torn = false;            // the last region is a torn tail
  std::string tail_hidden;      // why a damaged tail is not torn (a record hides in it)
  std::uint64_t checked_end = 0;  // offset where checking stopped
};

// Where a stream's problems go; `block` marks one that --repair does not fix.
struct Findings {
  StreamCheck& s;
  std::vector<VerifyProblem>& problems;
  void add(const std::string& file, std::uint64_t offset, std::string what) {
    problems.push_back({file, offset, std::move(what)});
  }
  void block(const std::string& file, std::uint64_t offset, std::string what) {
    add(file, offset, std::move(what));
    s.blocked = true;
  }
};

/// The per-run checks (verify_run_checks.cpp). M: the last seq; N: the end
/// of the gap-free prefix.
void check_durable(StreamCheck& s, std::uint64_t M, Findings& f);
void check_meta(StreamCheck& s, Findings& f);
void check_state(StreamCheck& s, const FileSummary& worker, std::uint64_t M, std::uint64_t N, Findings& f);

}  // namespace runlog::io::verify_detail
