// io/verify.cpp — `runlog verify` as a library (see io/verify.h, docs/verify.md).
//
// The work, per stream (a run, a conversation or a single file):
//   1. prepare: open the files, ask whether a writer holds the run, read
//      state.json, durable.seq and meta.json (in that order: a live writer only
//      moves forward), decide how far to check (everything, or up to the
//      durable watermark of a live run), and cut big files into segments;
//   2. scan each segment: pread in big blocks, split lines, check_line (CRC,
//      framing, seq) each one, then check the content of runs of valid lines
//      with one simdjson On-Demand iterate_many per span; damaged lines are
//      collected as regions, seqs summed into a set hash;
//   3. finalize (whichever worker ends the last segment): stitch the segments,
//      confirm a damaged tail is a torn tail with the ChannelScanner, compare
//      the set hash with 1..N (an exact merge only when it differs), check
//      meta.json / state.json / durable.seq against the log, and, with
//      --repair, let recovery (open_run_dir) cut what it would cut, then check
//      the stream once more.
#include "io/verify.h"

#include <simdjson.h>
#include <sys/stat.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "core/base64.h"
#include "core/chunk_codec.h"
#include "core/ids.h"
#include "core/timefmt.h"
#include "core/utf8.h"
#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

namespace od = simdjson::ondemand;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBytes = std::size_t{8} << 20;        // one pread
constexpr std::size_t kSpanBytes = std::size_t{1} << 20;        // lines per iterate_many call, about
constexpr std::uint64_t kSegmentBytes = std::uint64_t{64} << 20;  // files of 2x this are split
constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;
constexpr std::string_view kRepairHint = "run `runlog verify --repair`";

constexpr std::string_view kMetaFile = "meta.json";
constexpr std::string_view kStateFile = "state.json";
constexpr std::string_view kDurableFile = "durable.seq";
constexpr std::string_view kChunksFile = "chunks.jsonl";

// What a file's lines must be.
enum class Kind : std::uint8_t { worker, stdout_, stderr_, chunks, any };

Kind kind_of_file(std::string_view name) {
  if (name == "worker.jsonl") return Kind::worker;
  if (name == "stdout.jsonl") return Kind::stdout_;
  if (name == "stderr.jsonl") return Kind::stderr_;
  if (name == kChunksFile) return Kind::chunks;
  return Kind::any;
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (!s.empty() && s.back() != '/') s += '/';
  s += name;
  return s;
}

std::string base_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string dir_name(std::string_view path) {
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

std::uint64_t hash_range(std::uint64_t n) noexcept {
  std::uint64_t h = 0;
  for (std::uint64_t i = 1; i <= n; ++i) h += mix(i);
  return h;
}

std::string json_problem(simdjson::error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR: return "not valid UTF-8";
    case simdjson::UNESCAPED_CHARS: return "not valid JSON: a control character in a string is not escaped";
    default: return std::string("not valid JSON: ") + simdjson::error_message(e);
  }
}

// Shows a string from a line in a message: at most 60 bytes, control bytes escaped.
std::string shown(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (unsigned char c : s) {
    if (++n > 60) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool is_uuid_v4(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_lower_hex(s[i])) {
      return false;
    }
  }
  return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

// Escapes in the raw content of a JSON string, as JSON.stringify writes them:
// \" \\ \b \f \n \r \t, \u00xx (lowercase) only for other bytes below 0x20.
// Stage 1 of the parser has already refused unescaped control bytes and
// invalid UTF-8. escape_at() judges the escape at s[at] (a backslash): its
// length, or 0 with *what set.
std::size_t escape_at(const char* s, std::size_t n, std::size_t at, std::string* what) {
  if (at + 1 >= n) {
    *what = "invalid escape at the end of a string";
    return 0;
  }
  switch (s[at + 1]) {
    case '"':
    case '\\':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return 2;
    case 'u': {
      if (n - at < 6) {
        *what = "invalid \\u escape at byte " + std::to_string(at);
        return 0;
      }
      unsigned v = 0;
      bool lower = true, hex = true;
      for (std::size_t i = 2; i < 6; ++i) {
        const char c = s[at + i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10), lower = false;
        else hex = false;
      }
      if (!hex) {
        *what = "invalid \\u escape at byte " + std::to_string(at);
        return 0;
      }
      if (!lower || v >= 0x20 || v == 0x08 || v == 0x09 || v == 0x0a || v == 0x0c || v == 0x0d) {
        *what = "escape " + shown(std::string_view(s + at, 6)) + " at byte " + std::to_string(at) +
                " is not as JSON.stringify writes it";
        return 0;
      }
      return 6;
    }
    case '/':
      *what = "escape \"\\/\" at byte " + std::to_string(at) + " is not as JSON.stringify writes it";
      return 0;
    default:
      *what = "invalid escape " + shown(std::string_view(s + at, 2)) + " at byte " + std::to_string(at);
      return 0;
  }
}

// The escapes of a string are checked 64 bytes at a time, without a branch
// per escape (log text is dense with \n, \t and \"): the escaped characters
// are found as simdjson's stage 1 finds them (odd runs of backslashes) and all
// checked at once against " \ b f n r t u; only \u escapes, rare, and bad
// ones are looked at one by one (escape_at). Block64 gives the masks of one
// block: AVX2 where the CPU has it (chosen at run time: the build has no
// -march), SSE2 otherwise.
struct Masks {
  std::uint64_t backslash, escapable, u;
};

// Runs the block loop over s[0..n) with `masks(p)` for 64 readable bytes at p.
template <class MasksOf>
[[gnu::always_inline]] inline std::string scan_escapes(const char* s, std::size_t n, MasksOf masks) {
  std::string what;
  std::uint64_t carry = 0;  // 1: the next block's first byte is escaped
  alignas(32) char tail[64];
  for (std::size_t i = 0; i < n; i += 64) {
    const char* p = s + i;
    std::uint64_t live = ~std::uint64_t{0};
    if (n - i < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, p, n - i);
      p = tail;
      live = (std::uint64_t{1} << (n - i)) - 1;
    }
    const Masks m = masks(p);
    std::uint64_t backslash = m.backslash;
    if (backslash == 0 && carry == 0) continue;
    backslash &= ~carry;
    const std::uint64_t follows = backslash << 1 | carry;
    constexpr std::uint64_t kEven = 0x5555555555555555ull;
    const std::uint64_t odd_starts = backslash & ~kEven & ~follows;
    std::uint64_t even_starts = 0;
    carry = __builtin_add_overflow(odd_starts, backslash, &even_starts) ? 1 : 0;
    const std::uint64_t escaped = (kEven ^ (even_starts << 1)) & follows & live;
    std::uint64_t check = (escaped & ~m.escapable) | (escaped & m.u);
    while (check != 0) {  // a bad escape, or a \u one
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctzll(check)) - 1;
      if (escape_at(s, n, at, &what) == 0) return what;
      check &= check - 1;
    }
  }
  return {};
}

#if defined(__x86_64__)
// " \ b f n r t u by nibbles (pshufb): bit k of lo[c & 15] & hi[c >> 4].
//   hi nibble 2 -> 1, 5 -> 2, 6 -> 4, 7 -> 8
//   lo nibble 2: 0x22 0x62 0x72; 4: 0x74; 5: 0x75; 6: 0x66; c: 0x5c; e: 0x6e
#define RUNLOG_ESC_LO 0, 0, 13, 0, 8, 8, 4, 0, 0, 0, 0, 0, 2, 0, 4, 0
#define RUNLOG_ESC_HI 0, 0, 1, 0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0

struct MasksAvx2 {
  __attribute__((target("avx2"))) Masks operator()(const char* p) const {
    const __m256i lo_tbl = _mm256_setr_epi8(RUNLOG_ESC_LO, RUNLOG_ESC_LO);
    const __m256i hi_tbl = _mm256_setr_epi8(RUNLOG_ESC_HI, RUNLOG_ESC_HI);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    Masks m{0, 0, 0};
    for (int j = 0; j < 2; ++j) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * j));
      const __m256i lo = _mm256_shuffle_epi8(lo_tbl, _mm256_and_si256(v, nib));
      const __m256i hi = _mm256_shuffle_epi8(hi_tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
      const __m256i out_of_set = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
      const std::uint64_t shift = 32 * static_cast<std::uint64_t>(j);
      m.backslash |= std::uint64_t{static_cast<std::uint32_t>(
                         _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))))}
                     << shift;
      m.escapable |= std::uint64_t{~static_cast<std::uint32_t>(_mm256_movemask_epi8(out_of_set))} << shift;
      m.u |= std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('u'))))}
             << shift;
    }
    return m;
  }
};

__attribute__((target("avx2"))) std::string check_escapes_avx2(const char* s, std::size_t n) {
  return scan_escapes(s, n, MasksAvx2{});
}
#undef RUNLOG_ESC_LO
#undef RUNLOG_ESC_HI

std::string check_escapes_sse2(const char* s, std::size_t n) {
  return scan_escapes(s, n, [](const char* p) {
    Masks m{0, 0, 0};
    for (int j = 0; j < 4; ++j) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j));
      __m128i a = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
      for (char c : {'b', 'f', 'n', 'r', 't'}) a = _mm_or_si128(a, _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
      const __m128i bs = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
      const __m128i u = _mm_cmpeq_epi8(v, _mm_set1_epi8('u'));
      a = _mm_or_si128(a, _mm_or_si128(bs, u));
      const auto bits = [](__m128i x) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(x)));
      };
      m.backslash |= bits(bs) << (16 * j);
      m.escapable |= bits(a) << (16 * j);
      m.u |= bits(u) << (16 * j);
    }
    return m;
  });
}
#endif

// Returns "" or what is wrong with the escapes of `raw`.
std::string check_escapes(std::string_view raw) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? check_escapes_avx2(raw.data(), raw.size()) : check_escapes_sse2(raw.data(), raw.size());
#else
  return scan_escapes(raw.data(), raw.size(), [](const char* p) {
    Masks m{0, 0, 0};
    for (int i = 0; i < 64; ++i) {
      const char c = p[i];
      const std::uint64_t bit = std::uint64_t{1} << i;
      if (c == '\\') m.backslash |= bit;
      if (c == 'u') m.u |= bit;
      if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't' || c == 'u')
        m.escapable |= bit;
    }
    return m;
  });
#endif
}

// Whether a line has whitespace outside its strings (it must be compact).
bool has_loose_whitespace(std::string_view body) {
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      return true;
    }
  }
  return false;
}

// A string token as raw_json_token() gives it: `"..."` and nothing after.
bool string_content(std::string_view tok, std::string_view* content) {
  if (tok.size() < 2 || tok.front() != '"' || tok.back() != '"') return false;
  *content = tok.substr(1, tok.size() - 2);
  return true;
}

// Walks a value so that all of it is validated (On-Demand checks only what
// is visited).
simdjson::error_code walk(od::value& v, int depth) {
  if (depth > 512) return simdjson::DEPTH_ERROR;
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      for (auto fr : o) {
        od::field f;
        if (auto e = std::move(fr).get(f)) return e;
        std::string_view k;
        if (auto e = f.unescaped_key().get(k)) return e;
        if (auto e = walk(f.value(), depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto er : a) {
        od::value x;
        if (auto e = std::move(er).get(x)) return e;
        if (auto e = walk(x, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number: {
      od::number n;
      return v.get_number().get(n);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is = false;
      if (auto e = v.is_null().get(is)) return e;
      return is ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

// A read-only window [start, ...) of another File: lets the ChannelScanner
// judge a damaged tail without reading what precedes it.
class WindowFile final : public File {
 public:
  WindowFile(File& base, std::uint64_t start) : base_(base), start_(start) {}
  Status pwritev(const struct iovec*, int, std::uint64_t) override { return Status::Invalid("read-only"); }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    return base_.pread(buf, n, start_ + offset, got);
  }
  Status datasync() override { return Status::Invalid("read-only"); }
  Status truncate(std::uint64_t) override { return Status::Invalid("read-only"); }
  Result<std::uint64_t> size() override {
    std::uint64_t s = 0;
    RUNLOG_RETURN_IF_ERROR(base_.size().get(s));
    return s > start_ ? s - start_ : 0;
  }
  const std::string& path() const override { return base_.path(); }

 private:
  File& base_;
  std::uint64_t start_;
};

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

void Scanner::scan(const ScanTask& t) {
  task_ = &t;
  SegmentResult& r = *t.out;
  r = SegmentResult{};
  r.begin = t.begin;
  batch_.clear();
  batch_bytes_ = 0;
  open_damage_.reset();
  if (buf_.size() < kReadBytes + kPadding) buf_.resize(kReadBytes + kPadding);

  std::uint64_t base = t.begin;  // file offset of buf_[0]
  std::size_t have = 0;
  bool eof = false;
  bool stop = false;
  while (!stop) {
    // Fill the buffer (growing it when one line does not fit).
    if (!eof) {
      std::size_t room = buf_.size() - kPadding - have;
      if (room == 0) {
        buf_.resize((buf_.size() - kPadding) * 2 + kPadding);
        room = buf_.size() - kPadding - have;
      }
      std::uint64_t want = room;
      if (!t.to_eof) want = std::min<std::uint64_t>(want, t.end - (base + have));
      if (want == 0) {
        eof = true;
      } else {
        std::size_t got = 0;
        Status st = t.file->pread(buf_.data() + have, static_cast<std::size_t>(want), base + have, &got);
        if (!st.ok()) {
          problem(base + have, "cannot read: " + st.to_string());
          eof = true;
          stop = true;
        }
        if (got == 0) eof = true;
        have += got;
        r.bytes += got;
        if (bytes_done_) bytes_done_->fetch_add(got, std::memory_order_relaxed);
      }
    }
    // Lines.
    const char* const b = buf_.data();
    std::size_t pos = 0;
    while (pos < have) {
      const char* nl = static_cast<const char*>(std::memchr(b + pos, '\n', have - pos));
      if (nl == nullptr) {
        if (!eof) break;  // read more
        flush();
        damaged_line(base + pos, have - pos, "no final newline");
        pos = have;
        break;
      }
      const std::size_t len = static_cast<std::size_t>(nl - (b + pos)) + 1;
      const LineVerdict v = check_record_line(std::string_view(b + pos, len), foreign_parser_);
      if (v.valid) {
        if (v.seq > t.limit) {
          flush();
          if (open_damage_) {  // a damaged line with a record after it: not in flight
            open_damage_->followed = true;
            open_damage_->next_seq = v.seq;
          }
          r.hit_limit = true;
          r.end = base + pos;
          stop = true;
          pos = have;  // nothing more of this segment is looked at
          break;
        }
        if (v.foreign) {
          flush();
          foreign_line(LineRef{pos, len, base + pos, v.seq});
        } else {
          valid_line(LineRef{pos, len, base + pos, v.seq});
        }
      } else {
        flush();
        damaged_line(base + pos, len, v.what);
      }
      pos += len;
    }
    if (stop) break;
    flush();  // the batch points into the buffer: check it before moving bytes
    std::memmove(buf_.data(), buf_.data() + pos, have - pos);
    base += pos;
    have -= pos;
    if (eof && have == 0) break;
  }
  flush();
  if (!r.hit_limit) r.end = base + have;
  if (open_damage_) {
    r.damage.push_back(*open_damage_);
    open_damage_.reset();
  }
  task_ = nullptr;
}

void Scanner::valid_line(const LineRef& l) {
  count_record(l);
  batch_.push_back(l);
  batch_bytes_ += l.len;
  if (batch_bytes_ >= kSpanBytes) flush();
}

// A line of another implementation of the contract (SPEC "Logs written by
// other implementations"): checked against local-run.ts / wire.ts alone.
void Scanner::foreign_line(const LineRef& l) {
  count_record(l);
  ++task_->out->foreign;
  std::string_view line(buf_.data() + l.pos, l.len - 1);
  simdjson::dom::element el;
  simdjson::dom::object obj;
  type_ = {};
  std::string what;
  if (foreign_parser_.parse(line.data(), line.size(), true).get(el) || el.get_object().get(obj))
    what = "not a JSON object";
  else
    what = check_foreign(obj);
  std::string_view type;
  if (what.empty() && !obj["type"].get_string().get(type)) type_ = type;
  after_doc(l, what);
}

std::string Scanner::check_foreign(simdjson::dom::object obj) const {
  auto str = [&](const char* key, std::string_view* out) -> std::string {
    auto r = obj[key];
    if (r.error() == simdjson::NO_SUCH_FIELD) return std::string("\"") + key + "\" is missing";
    if (r.get_string().get(*out)) return std::string("\"") + key + "\" is not a string";
    return {};
  };
  std::string_view v;
  std::string e;
  const Kind kind = task_->kind;
  if (kind == Kind::chunks) {
    if (!(e = str("role", &v)).empty()) return e;
    simdjson::dom::object chunk;
    if (obj["chunk"].get_object().get(chunk)) return "\"chunk\" is missing or not an object";
    return {};
  }
  for (const char* key : {"taskId", "stepId", "runId"})
    if (!(e = str(key, &v)).empty()) return e;
  if (!(e = str("channel", &v)).empty()) return e;
  const std::string_view want = kind == Kind::worker    ? "worker"
                                : kind == Kind::stdout_ ? "stdout"
                                : kind == Kind::stderr_ ? "stderr"
                                                        : std::string_view{};
  if (!want.empty() && v != want) return "\"channel\" " + shown(v) + " is not this file's channel";
  if (v != "worker" && v != "stdout" && v != "stderr") return "\"channel\" " + shown(v) + " is not a channel";
  std::string_view created;
  if (!(e = str("createdAt", &created)).empty()) return e;
  if (!parse_iso_ms(created)) return "\"createdAt\" " + shown(created) + " is not in toISOString form";
  if (v != "worker") return str("text", &v);
  for (const char* key : {"eventId", "message", "renderedLine"})
    if (!(e = str(key, &v)).empty()) return e;
  if (!(e = str("type", &v)).empty()) return e;
  if (!parse_event_type(v)) return "\"type\" " + shown(v) + " is not a WorkerLifecycleEventType";
  if (!(e = str("level", &v)).empty()) return e;
  if (!parse_level(v)) return "\"level\" " + shown(v) + " is not a LogLevel";
  simdjson::dom::object data;
  if (obj["data"].get_object().get(data)) return "\"data\" is missing or not an object";
  return {};
}

void Scanner::count_record(const LineRef& l) {
  SegmentResult& r = *task_->out;
  if (open_damage_) {
    open_damage_->followed = true;
    open_damage_->next_seq = l.seq;
    r.damage.push_back(*open_damage_);
    open_damage_.reset();
  }
  if (r.records > 0 && l.seq <= r.last_seq) {
    r.order_problem = true;
    if (l.seq == r.last_seq)
      problem(l.offset, "seq " + std::to_string(l.seq) + " repeats (the line before, at offset " +
                            std::to_string(r.last_off) + ", has it too)");
    else
      problem(l.offset, "seq " + std::to_string(l.seq) + " after seq " + std::to_string(r.last_seq) +
                            " (at offset " + std::to_string(r.last_off) + "): seqs must increase within a file");
  }
  if (r.records == 0) {
    r.first_seq = l.seq;
    r.first_off = l.offset;
  }
  ++r.records;
  r.hash += mix(l.seq);
  r.max_seq = std::max(r.max_seq, l.seq);
  r.last_seq = l.seq;
  r.last_off = l.offset;
}

void Scanner::damaged_line(std::uint64_t offset, std::uint64_t len, const char* what) {
  if (open_damage_ && open_damage_->offset + open_damage_->length == offset) {
    open_damage_->length += len;
    ++open_damage_->lines;
    return;
  }
  SegmentResult& r = *task_->out;
  if (open_damage_) r.damage.push_back(*open_damage_);
  Damage d;
  d.offset = offset;
  d.length = len;
  d.lines = 1;
  d.what = what;
  d.prev_seq = r.records > 0 ? r.last_seq : 0;
  open_damage_ = d;
}

// Checks the content of the batched lines: one iterate_many over them, the
// documents matched to the lines one for one. Anything unexpected (an error
// that stops the stream, a document that does not start where its line does)
// sends the rest of the batch to the one-line-at-a-time path.
void Scanner::flush() {
  if (batch_.empty()) return;
  const char* const b = buf_.data();
  const std::size_t start = batch_.front().pos;
  const std::size_t len = batch_.back().pos + batch_.back().len - start;
  std::size_t i = 0;
  {
    od::document_stream stream;  // one batch: the span is whole lines
    if (!parser_.iterate_many(b + start, len, std::max<std::size_t>(len, 4096)).get(stream)) {
      for (auto it = stream.begin(); it != stream.end() && i < batch_.size(); ++it) {
        if (it.current_index() != batch_[i].pos - start) break;
        auto doc_result = *it;
        od::document_reference doc;
        if (std::move(doc_result).get(doc)) break;
        after_doc(batch_[i], check_doc(doc, b + batch_[i].pos, batch_[i]));
        ++i;
      }
    }
  }
  for (; i < batch_.size(); ++i) check_one(batch_[i]);
  batch_.clear();
  batch_bytes_ = 0;
}

// One line alone, in a padded copy.
void Scanner::check_one(const LineRef& l) {
  std::string_view line(buf_.data() + l.pos, l.len);
  if (!utf8_is_valid(line.data(), line.size())) return after_doc(l, "not valid UTF-8");
  if (line_buf_.size() < l.len + kPadding) line_buf_.resize(l.len + kPadding);
  std::memcpy(line_buf_.data(), line.data(), l.len);
  od::document doc;
  if (auto e = parser_.iterate(line_buf_.data(), l.len - 1, line_buf_.size()).get(doc))
    return after_doc(l, json_problem(e));
  od::document_reference ref(doc);
  after_doc(l, check_doc(ref, line_buf_.data(), l));
}

void Scanner::after_doc(const LineRef& l, const std::string& what) {
  if (!what.empty()) problem(l.offset, what);
  ReplayOut* rp = task_->replay;
  if (rp == nullptr || l.seq > rp->to) return;
  if (!what.empty()) {
    rp->complete = false;
    return;
  }
  std::string_view line(buf_.data() + l.pos, l.len);
  if (!replay_.apply(line, &rp->state).ok()) {
    rp->complete = false;
    return;
  }
  if (std::optional<EventType> t = parse_event_type(type_)) {
    if (*t == EventType::worker_started || *t == EventType::step_completed || *t == EventType::step_failed ||
        *t == EventType::step_blocked) {
      rp->status_seq = l.seq;
      rp->status_type = std::string(type_);
    }
  }
}

// The content of one line: keys in order for its channel, values as
// docs/format.md says. Returns "" or the first thing wrong.
std::string Scanner::check_doc(od::document_reference doc, const char* const line, const LineRef& l) {
  type_ = {};
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return json_problem(e);

  enum class Layout { unknown, chunk, worker, conv } layout = Layout::unknown;
  static constexpr std::string_view kChunkKeys[] = {"seq", "channel", "createdAt", "text", "bytes", "crc"};
  static constexpr std::string_view kWorkerKeys[] = {"seq",   "channel", "eventId", "type",         "level",
                                                     "createdAt", "message", "data", "renderedLine", "crc"};
  static constexpr std::string_view kConvKeys[] = {"seq", "role", "chunk", "crc"};
  std::span<const std::string_view> keys;
  std::size_t k = 0;  // the key expected next
  bool done = false;  // crc seen
  std::string_view created, text, bytes, type, level, message, rendered, role_name_seen;
  const char* chunk_start = nullptr;
  bool has_bytes = false;
  const Kind kind = task_->kind;

  for (auto fr : obj) {
    od::field f;
    if (auto e = std::move(fr).get(f)) return json_problem(e);
    const char* kp = f.key().raw();
    od::value& v = f.value();
    const std::string_view tok = v.raw_json_token();
    // Compact: `{"` or `,"` before the key, `":` and then the value.
    const char* const vstart = tok.data();
    if (vstart < kp + 2 || vstart[-1] != ':' || vstart[-2] != '"' || (kp[-2] != ',' && kp[-2] != '{'))
      return "not compact JSON (whitespace around a key)";
    const std::string_view key(kp, static_cast<std::size_t>(vstart - kp) - 2);
    if (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\r' || tok.back() == '\n'))
      return "not compact JSON (whitespace after the value of " + shown(key) + ")";
    if (done) return "key " + shown(key) + " after \"crc\"";

    if (k == 0) {
      if (key != "seq") return "key " + shown(key) + " where \"seq\" belongs";
      ++k;
      continue;
    }
    if (k == 1) {
      if (key == "channel") {
        std::string_view ch;
        if (!string_content(tok, &ch)) return "channel is not a string";
        Kind want;
        if (ch == "worker") {
          layout = Layout::worker;
          keys = kWorkerKeys;
          want = Kind::worker;
        } else if (ch == "stdout" || ch == "stderr") {
          layout = Layout::chunk;
          keys = kChunkKeys;
          want = ch == "stdout" ? Kind::stdout_ : Kind::stderr_;
        } else {
          return "channel " + shown(ch) + " is not worker, stdout or stderr";
        }
        if (kind != Kind::any && kind != want)
          return "channel " + shown(ch) + " in " + base_name(task_->path) + " (a line of another channel)";
      } else if (key == "role") {
        if (kind != Kind::any && kind != Kind::chunks)
          return "key \"role\" (a conversation line) where \"channel\" belongs";
        std::string_view role;
        if (!string_content(tok, &role) ||
            (role != "system" && role != "user" && role != "assistant" && role != "tool"))
          return "role " + std::string(tok.substr(0, 60)) + " is not system, user, assistant or tool";
        layout = Layout::conv;
        keys = kConvKeys;
        role_name_seen = role;
      } else {
        return "key " + shown(key) + " where " +
               std::string(kind == Kind::chunks ? "\"role\"" : "\"channel\"") + " belongs";
      }
      ++k;
      continue;
    }
    // Optional "bytes" of a chunk line.
    if (layout == Layout::chunk && k == 4 && key == "crc") ++k;
    if (k >= keys.size() || key != keys[k]) {
      if (k < keys.size()) return "key " + shown(key) + " where " + shown(keys[k]) + " belongs";
      return "unexpected key " + shown(key);
    }
    const std::string_view name = keys[k];
    ++k;
    if (name == "crc") {
      done = true;
      continue;
    }
    if (name == "data" || name == "chunk") {
      od::json_type t;
      if (auto e = v.type().get(t)) return json_problem(e);
      if (t != od::json_type::object) return "\"" + std::string(name) + "\" is not a JSON object";
      if (auto e = walk(v, 1)) return "\"" + std::string(name) + "\": " + json_problem(e);
      // A chunk (wire.ts Chunk) is discriminated by a string "type", its first key.
      if (name == "chunk" &&
          std::string_view(vstart, static_cast<std::size_t>(line + l.len - vstart)).substr(0, 9) != "{\"type\":\"")
        return "\"chunk\" does not start with a string \"type\"";
      if (name == "chunk") chunk_start = vstart;
      continue;
    }
    std::string_view s;
    if (!string_content(tok, &s)) return "\"" + std::string(name) + "\" is not a string";
    if (name == "createdAt") {
      if (!parse_iso_ms(s)) return "createdAt " + shown(s) + " is not in toISOString form";
      created = s;
    } else if (name == "text") {
      if (std::string e = check_escapes(s); !e.empty()) return "text: " + e;
      text = s;
    } else if (name == "bytes") {
      bytes = s;
      has_bytes = true;
    } else if (name == "eventId") {
      if (!is_uuid_v4(s)) return "eventId " + shown(s) + " is not a lowercase UUID v4";
    } else if (name == "type") {
      if (!parse_event_type(s)) return "type " + shown(s) + " is not a WorkerLifecycleEventType";
      type = s;
    } else if (name == "level") {
      if (!parse_level(s)) return "level " + shown(s) + " is not debug, info, warn or error";
      level = s;
    } else if (name == "message") {
      if (std::string e = check_escapes(s); !e.empty()) return "message: " + e;
      message = s;
    } else if (name == "renderedLine") {
      if (std::string e = check_escapes(s); !e.empty()) return "renderedLine: " + e;
      rendered = s;
    }
  }
  if (layout == Layout::unknown) return "no \"channel\"";
  if (!done) return "no \"crc\" (key " + shown(keys[std::min(k, keys.size() - 1)]) + " missing)";

  if (layout == Layout::worker || layout == Layout::conv) {
    // Nested values: compact everywhere (chunk lines are flat and checked above).
    if (has_loose_whitespace(std::string_view(line, l.len - 1))) return "not compact JSON (whitespace between tokens)";
  }
  if (layout == Layout::conv && chunk_start != nullptr) {
    // The chunk against wire.ts: a known type, its fields with their types, no other key.
    const char* chunk_end = line + l.len - kCrcSuffixBytes;  // crc is the last key (checked above)
    if (chunk_end > chunk_start) {
      detail::ChunkInfo info;
      Status st = detail::encode_chunk_fragment(
          *parse_role(role_name_seen), std::string_view(chunk_start, static_cast<std::size_t>(chunk_end - chunk_start)),
          &chunk_fragment_, &info);
      if (!st.ok()) return st.message();
    }
  }
  if (layout == Layout::worker) {
    // "[<createdAt>] <level> <type>: <message>", compared as written (escapes are canonical).
    const std::size_t want = 1 + created.size() + 2 + level.size() + 1 + type.size() + 2 + message.size();
    bool same = rendered.size() == want && rendered[0] == '[' &&
                rendered.substr(1, created.size()) == created;
    if (same) {
      std::size_t p = 1 + created.size();
      same = rendered.substr(p, 2) == "] " && rendered.substr(p + 2, level.size()) == level;
      p += 2 + level.size();
      same = same && rendered[p] == ' ' && rendered.substr(p + 1, type.size()) == type;
      p += 1 + type.size();
      same = same && rendered.substr(p, 2) == ": " && rendered.substr(p + 2) == message;
    }
    if (!same) return "renderedLine is not \"[createdAt] level type: message\"";
    type_ = type;
  }
  if (layout == Layout::chunk && has_bytes) {
    if (bytes.empty()) return "bytes is empty";
    decoded_.clear();
    if (!base64_decode(bytes, &decoded_)) return "bytes is not base64 (RFC 4648, padded)";
    if (utf8_is_valid(decoded_.data(), decoded_.size()))
      return "bytes present, but the chunk is valid UTF-8 (bytes is only for chunks that are not)";
    escaped_.resize(json_escape_bound(decoded_.size()));
    char* end = json_escape_utf8(decoded_.data(), decoded_.size(), escaped_.data());
    std::string_view want(escaped_.data(), static_cast<std::size_t>(end - escaped_.data()));
    if (want != text) return "text is not the WHATWG UTF-8 decoding of bytes";
  }
  return {};
}

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

// Names from a real path: the folder of `path` and its parent.
bool real_names(const std::string& path, std::string* self, std::string* parent, std::string* grandparent_path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return false;
  std::string real(buf);
  *self = base_name(real);
  std::string up = dir_name(real);
  *parent = base_name(up);
  *grandparent_path = dir_name(up);
  return true;
}

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

bool has_any(const std::vector<std::string>& names, std::span<const std::string_view> want) {
  for (std::string_view w : want)
    if (std::binary_search(names.begin(), names.end(), std::string(w))) return true;
  return false;
}

constexpr std::string_view kRunFiles[] = {"meta.json",    "state.json",   "durable.seq",
                                          "worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
constexpr std::string_view kConversationFiles[] = {kChunksFile};

std::uint64_t Verifier::stat_bytes(const std::string& folder, std::initializer_list<std::string_view> names) {
  if (!opts_.progress) return 0;
  std::uint64_t n = 0;
  for (std::string_view name : names) {
    struct stat st;
    if (::lstat(join_path(folder, name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
      n += static_cast<std::uint64_t>(st.st_size);
  }
  return n;
}

// Below a path given as a folder: a stream folder is a run (it holds any of
// the run files) or a conversation (chunks.jsonl); other folders are
// descended into, down to <root>/<task>/<run>.
// Symbolic links anywhere below a stream folder (artifacts/, checkpoints/…):
// never followed, each one a problem. Real paths only (lstat); a folder that
// cannot be read here is left to the checks that read it.
void report_symlinks(const std::string& folder, int depth, std::vector<VerifyProblem>* out) {
  std::error_code ec;
  std::filesystem::directory_iterator it(folder, ec), end;
  std::vector<std::string> names;
  for (; !ec && it != end; it.increment(ec)) names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  static constexpr std::string_view kStreamFiles[] = {"meta.json",    "state.json",   "worker.jsonl", "stdout.jsonl",
                                                      "stderr.jsonl", "durable.seq",  "chunks.jsonl"};
  for (const std::string& n : names) {
    // The stream's own files are opened (and a link refused) by its checks.
    if (depth == 0 && std::find(std::begin(kStreamFiles), std::end(kStreamFiles), n) != std::end(kStreamFiles))
      continue;
    const std::string p = join_path(folder, n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode))
      out->push_back({p, 0, "is a symbolic link (not followed, not checked)"});
    else if (S_ISDIR(st.st_mode) && depth < 16)
      report_symlinks(p, depth + 1, out);
  }
}

void Verifier::walk_folder(const std::string& root, Dir& dir, std::vector<std::string>& comps, int depth) {
  std::vector<std::string> names;
  if (Status st = dir.list().get(names); !st.ok()) {
    walk_problems_.push_back({dir.path(), 0, "cannot list: " + st.to_string()});
    return;
  }
  std::sort(names.begin(), names.end());
  // chunks.jsonl makes a conversation, even beside durable.seq (which both kinds have).
  const bool is_conversation = has_any(names, kConversationFiles);
  const bool is_run = !is_conversation && has_any(names, kRunFiles);
  if (is_run || (depth == 2 && !is_conversation)) {
    Job j;
    j.type = StreamType::run;
    j.root = root;
    j.comps = comps;
    j.path = dir.path();
    j.bytes = stat_bytes(j.path, {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"});
    if (posix_) report_symlinks(j.path, 0, &walk_problems_);
    jobs_.push_back(std::move(j));
    return;
  }
  if (is_conversation) {
    Job j;
    j.type = StreamType::conversation;
    j.root = root;
    j.comps = comps;
    j.path = dir.path();
    j.bytes = stat_bytes(j.path, {kChunksFile});
    if (posix_) report_symlinks(j.path, 0, &walk_problems_);
    jobs_.push_back(std::move(j));
    return;
  }
  if (depth >= 2) return;
  for (const std::string& name : names) {
    std::unique_ptr<Dir> sub;
    Status st = dir.open_dir(name, false, 0).get(sub);
    if (!st.ok()) {
      struct stat ls;
      const std::string p = join_path(dir.path(), name);
      const bool link = posix_ && ::lstat(p.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode);
      if (!link && st.code() == Errc::refused && st.sys_errno() == ENOTDIR) continue;  // a file: not ours
      if (link) {
        walk_problems_.push_back({p, 0, "is a symbolic link (not followed, not checked)"});
        continue;
      }
      walk_problems_.push_back({join_path(dir.path(), name), 0,
                                st.code() == Errc::refused ? st.message() + " (not followed, not checked)"
                                                           : "cannot open: " + st.to_string()});
      continue;
    }
    comps.push_back(name);
    walk_folder(root, *sub, comps, depth + 1);
    comps.pop_back();
  }
}

Status Verifier::discover(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0)
    return Status::Invalid(path + ": " + (path.empty() ? "empty path" : std::strerror(errno)));
  if (S_ISREG(st.st_mode)) {
    if (path.size() < 6 || path.substr(path.size() - 6) != ".jsonl")
      return Status::Invalid(path + ": not a .jsonl file, a run folder or a runs root");
    Job j;
    j.type = StreamType::file;
    j.root = dir_name(path);
    j.file_name = base_name(path);
    j.path = join_path(j.root, j.file_name);
    j.bytes = static_cast<std::uint64_t>(st.st_size);
    jobs_.push_back(std::move(j));
    return Status::OK();
  }
  if (!S_ISDIR(st.st_mode)) return Status::Invalid(path + ": not a folder or a .jsonl file");
  std::unique_ptr<Dir> dir;
  RUNLOG_RETURN_IF_ERROR(fs_->open_root(path, false, 0).get(dir));
  std::vector<std::string> comps;
  walk_folder(dir->path(), *dir, comps, 0);
  return Status::OK();
}

Status Verifier::open_stream_dir(const Job& job, std::unique_ptr<Dir>* out) {
  std::unique_ptr<Dir> d;
  RUNLOG_RETURN_IF_ERROR(fs_->open_root(job.root, false, 0).get(d));
  for (const std::string& c : job.comps) {
    std::unique_ptr<Dir> sub;
    RUNLOG_RETURN_IF_ERROR(d->open_dir(c, false, 0).get(sub));
    d = std::move(sub);
  }
  *out = std::move(d);
  return Status::OK();
}

// Reads a small file whole; *present = false when it does not exist.
Status read_small(Dir& dir, std::string_view name, std::string* text, bool* present) {
  *present = false;
  Status st = read_file(dir, name).get(*text);
  if (st.code() == Errc::not_found) return Status::OK();
  *present = true;
  return st;
}

std::string strip_prefix(const std::string& msg, std::string_view prefix) {
  if (msg.compare(0, prefix.size(), prefix) == 0) return msg.substr(prefix.size());
  return msg;
}

// Offsets where a file can be cut into segments: line starts near each
// multiple of kSegmentBytes.
std::vector<std::uint64_t> segment_starts(File& f, std::uint64_t size) {
  std::vector<std::uint64_t> starts = {0};
  std::vector<char> win(std::size_t{64} << 10);
  for (std::uint64_t at = kSegmentBytes; at + kSegmentBytes / 2 < size; at += kSegmentBytes) {
    if (at <= starts.back()) continue;
    std::uint64_t pos = at - 1;
    bool found = false;
    while (pos < size && !found) {
      std::size_t got = 0;
      if (!f.pread(win.data(), win.size(), pos, &got).ok() || got == 0) break;
      const char* nl = static_cast<const char*>(std::memchr(win.data(), '\n', got));
      if (nl != nullptr) {
        const std::uint64_t start = pos + static_cast<std::uint64_t>(nl - win.data()) + 1;
        if (start < size) starts.push_back(start);
        found = true;
      }
      pos += got;
    }
    if (!found) break;
  }
  return starts;
}

void Verifier::prepare(StreamCheck& s, bool split) {
  Job& job = *s.job;
  auto add = [&](std::string file, std::uint64_t offset, std::string what) {
    s.problems.push_back({std::move(file), offset, std::move(what)});
  };
  if (Status st = open_stream_dir(job, &s.dir); !st.ok()) {
    add(job.path, 0, "cannot open: " + st.to_string());
    return;
  }
  Dir& dir = *s.dir;

  // 1. Live? The writer's lock on durable.seq says so.
  std::unique_ptr<File> durable;
  Status dst = dir.open_file(kDurableFile, OpenMode::read_only, 0).get(durable);
  if (dst.ok()) {
    s.durable_present = true;
    bool locked = false;
    if (durable->locked_by_other().get(locked).ok()) s.live = locked;
  } else if (dst.code() != Errc::not_found) {
    if (job.type != StreamType::file)
      add(join_path(job.path, kDurableFile), 0, dst.code() == Errc::refused ? dst.message() : "cannot open: " + dst.to_string());
  }

  // 2. state.json, before durable.seq and the logs (a live writer only moves forward).
  if (job.type != StreamType::conversation) {
    std::string text;
    bool present = false;
    Status st = read_small(dir, kStateFile, &text, &present);
    s.state_present = present;
    if (present && !st.ok()) {
      s.state_error = st.code() == Errc::refused ? st.message() : "cannot read: " + st.to_string();
    } else if (present) {
      Result<RunStateSnapshot> parsed = state_from_json(text);
      if (parsed.ok()) s.state = std::move(parsed).value();
      else s.state_error = strip_prefix(parsed.status().message(), "state.json: ");
    }
  }

  // 3. durable.seq.
  if (durable) {
    char buf[64];
    std::size_t got = 0;
    if (Status st = durable->pread(buf, sizeof buf, 0, &got); st.ok()) {
      s.durable_text.assign(buf, got);
      if (got == 0) s.durable = 0;  // made, never written: nothing declared durable
      else s.durable = parse_durable_seq(s.durable_text);
    }
  }

  // 4. meta.json (runs).
  if (job.type == StreamType::run) {
    std::string text;
    bool present = false;
    Status st = read_small(dir, kMetaFile, &text, &present);
    s.meta.present = present;
    if (present && !st.ok()) {
      s.meta_error = st.code() == Errc::refused ? st.message() : "cannot read: " + st.to_string();
    } else if (present) {
      Result<RunMetadata> parsed = meta_from_json(text);
      if (parsed.ok()) {
        s.meta.meta = std::move(parsed).value();
        s.meta.ok = true;
      } else {
        s.meta_error = strip_prefix(parsed.status().message(), "meta.json: ");
      }
    }
  }

  // How far to check: a live stream up to what its writer declared durable.
  if (s.live) {
    std::uint64_t c = s.durable.value_or(0);
    if (s.state) c = std::max(c, s.state->lastEventSeq);
    s.limit = c;
  }
  // The replay of lifecycle events up to state.json's lastEventSeq.
  if (job.type == StreamType::run) {
    RunStateSnapshot init;
    init.status = RunStatus::prepared;
    s.replay.state = init;
    s.replay.to = s.state ? s.state->lastEventSeq : 0;
  }

  // 5. The log files.
  std::vector<std::string> names;
  if (job.type == StreamType::run) names = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
  else if (job.type == StreamType::conversation) names = {std::string(kChunksFile)};
  else names = {job.file_name};
  s.files.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    FileCheck& f = s.files[i];
    f.name = names[i];
    f.path = join_path(job.type == StreamType::file ? dir.path() : job.path, f.name);
    f.kind = kind_of_file(f.name);
    std::unique_ptr<File> first;
    Status st = dir.open_file(f.name, OpenMode::read_only, 0).get(first);
    if (!st.ok()) {
      if (st.code() == Errc::not_found) {
        if (!s.live && job.type == StreamType::run) add(f.path, 0, "missing");
      } else {
        add(f.path, 0, st.code() == Errc::refused ? st.message() : "cannot open: " + st.to_string());
      }
      continue;
    }
    f.present = true;
    std::uint64_t size = 0;
    if (Status sz = first->size().get(size); !sz.ok()) {
      add(f.path, 0, "cannot read: " + sz.to_string());
      f.present = false;
      continue;
    }
    std::vector<std::uint64_t> starts = {0};
    if (split && !s.live && f.kind != Kind::worker && size >= 2 * kSegmentBytes) starts = segment_starts(*first, size);
    f.segs.resize(starts.size());
    f.tasks.resize(starts.size());
    f.handles.push_back(std::move(first));
    for (std::size_t k = 1; k < starts.size(); ++k) {
      std::unique_ptr<File> h;
      if (!dir.open_file(f.name, OpenMode::read_only, 0).get(h).ok()) {
        starts.resize(k);  // fewer segments, the last one longer
        f.segs.resize(k);
        f.tasks.resize(k);
        break;
      }
      f.handles.push_back(std::move(h));
    }
    for (std::size_t k = 0; k < starts.size(); ++k) {
      ScanTask& t = f.tasks[k];
      t.file = f.handles[k].get();
      t.path = f.path;
      t.kind = f.kind;
      t.begin = starts[k];
      t.to_eof = k + 1 == starts.size() && s.live;
      t.end = k + 1 < starts.size() ? starts[k + 1] : size;
      t.limit = s.limit;
      t.replay = (f.kind == Kind::worker && job.type == StreamType::run) ? &s.replay : nullptr;
      t.max_problems = opts_.max_problems_per_file;
      t.out = &f.segs[k];
    }
  }
}

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

FileSummary summarize(FileCheck& f, std::size_t cap, std::vector<VerifyProblem>* problems, std::uint64_t* dropped) {
  FileSummary sum;
  std::size_t listed = 0;
  std::uint64_t last_seq = 0, last_off = 0;
  bool any = false;
  for (SegmentResult& r : f.segs) {
    for (VerifyProblem& p : r.problems) {
      if (listed++ < cap) problems->push_back(std::move(p));
      else ++*dropped;
    }
    *dropped += r.dropped;
    sum.bytes += r.bytes;
    sum.checked_end = r.end;
    // Damage: prev_seq of a region before the segment's first record comes from earlier segments.
    for (Damage d : r.damage) {
      if (r.records == 0 || d.offset < r.first_off) d.prev_seq = last_seq;
      if (!sum.damage.empty()) {
        Damage& prev = sum.damage.back();
        if (!prev.followed && prev.offset + prev.length == d.offset) {
          prev.length += d.length;
          prev.lines += d.lines;
          prev.followed = d.followed;
          prev.next_seq = d.next_seq;
          continue;
        }
      }
      sum.damage.push_back(d);
    }
    if (r.records > 0) {
      // A region left open by an earlier segment is followed by this segment's first record.
      for (Damage& d : sum.damage)
        if (!d.followed && d.offset < r.first_off) {
          d.followed = true;
          d.next_seq = r.first_seq;
        }
      if (any && r.first_seq <= last_seq) {
        sum.order_problem = true;
        problems->push_back({f.path, r.first_off,
                             "seq " + std::to_string(r.first_seq) +
                                 (r.first_seq == last_seq ? " repeats" : " after seq " + std::to_string(last_seq)) +
                                 " (at offset " + std::to_string(last_off) + "): seqs must increase within a file"});
      }
      any = true;
      last_seq = r.last_seq;
      last_off = r.last_off;
    }
    sum.records += r.records;
    sum.foreign += r.foreign;
    sum.hash += r.hash;
    sum.max_seq = std::max(sum.max_seq, r.max_seq);
    sum.order_problem = sum.order_problem || r.order_problem;
    if (r.hit_limit) break;
  }
  return sum;
}

// Recovery's verdict on a damaged tail: torn (nothing valid in or after it),
// or a record hides in it (corruption). "" = torn.
std::string judge_tail(File& file, std::uint64_t offset) {
  WindowFile w(file, offset);
  ChannelScanner scanner(w);
  ScannedRecord rec;
  bool have = false;
  Status st = scanner.next(&rec, &have);
  if (!st.ok()) {
    if (st.code() == Errc::corruption) return "a valid record hides in it or follows it (a damaged newline?)";
    return st.to_string();
  }
  if (have) return "a valid record at offset " + std::to_string(offset + rec.offset) + " follows it";
  return {};
}

// The exact merge, when the set hash says the seqs are not 1..N: every valid
// seq (<= limit) of every file, sorted.
struct SeqAt {
  std::uint64_t seq;
  std::uint32_t file;
  std::uint64_t offset;
  bool operator<(const SeqAt& o) const {
    return seq != o.seq ? seq < o.seq : file != o.file ? file < o.file : offset < o.offset;
  }
};

void collect_seqs(File& file, std::uint32_t index, std::uint64_t limit, std::uint64_t end, std::vector<SeqAt>* out) {
  std::vector<char> buf(std::size_t{4} << 20);
  std::uint64_t base = 0;
  std::size_t have = 0;
  for (;;) {
    if (have == buf.size()) buf.resize(buf.size() * 2);
    std::size_t got = 0;
    const std::uint64_t want = std::min<std::uint64_t>(buf.size() - have, end - std::min(end, base + have));
    if (want > 0 && !file.pread(buf.data() + have, static_cast<std::size_t>(want), base + have, &got).ok()) return;
    have += got;
    std::size_t pos = 0;
    while (pos < have) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data() + pos, '\n', have - pos));
      if (nl == nullptr) break;
      const std::size_t len = static_cast<std::size_t>(nl - (buf.data() + pos)) + 1;
      LineVerdict v = check_line(std::string_view(buf.data() + pos, len));
      if (v.valid) {
        if (v.seq > limit) return;
        out->push_back({v.seq, index, base + pos});
      }
      pos += len;
    }
    std::memmove(buf.data(), buf.data() + pos, have - pos);
    base += pos;
    have -= pos;
    if (got == 0) return;
  }
}

std::string seq_range(std::uint64_t a, std::uint64_t b) {
  return a == b ? "seq " + std::to_string(a) : "seqs " + std::to_string(a) + ".." + std::to_string(b);
}

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

// A hole in the seqs: a..b missing; the record after it (if any).
struct Hole {
  std::uint64_t a, b;
  std::uint32_t file;
  std::uint64_t offset;
  bool has_next;
};

// Seqs 1..N across the files (1..limit for a live stream): the set hash says
// whether they are; when not, every seq is collected and sorted to say where.
// Returns N, the end of the gap-free prefix.
std::uint64_t find_holes(StreamCheck& s, const std::vector<FileSummary>& sums, Findings& f, std::vector<Hole>* holes) {
  std::uint64_t T = 0, H = 0, M = 0;
  for (const FileSummary& fs : sums) {
    T += fs.records;
    H += fs.hash;
    M = std::max(M, fs.max_seq);
  }
  const bool gap_free_stream = s.job->type != StreamType::file || s.files[0].kind == Kind::chunks;
  const std::uint64_t target = s.live ? s.limit : M;
  if (!gap_free_stream || (T == target && M == target && (T == 0 || H == hash_range(T)))) return M;
  std::vector<SeqAt> all;
  for (std::size_t i = 0; i < s.files.size(); ++i)
    if (s.files[i].present)
      collect_seqs(*s.files[i].handles.front(), static_cast<std::uint32_t>(i), s.limit,
                   s.live ? std::numeric_limits<std::uint64_t>::max() : sums[i].checked_end, &all);
  std::sort(all.begin(), all.end());
  std::uint64_t expected = 1;
  for (std::size_t k = 0; k < all.size(); ++k) {
    const SeqAt& x = all[k];
    if (k > 0 && all[k - 1].seq == x.seq) {
      if (all[k - 1].file != x.file)  // within one file it was said already
        f.block(s.files[x.file].path, x.offset,
                "seq " + std::to_string(x.seq) + " repeats (also in " + s.files[all[k - 1].file].name + " at offset " +
                    std::to_string(all[k - 1].offset) + ")");
      continue;
    }
    if (x.seq > expected) holes->push_back({expected, x.seq - 1, x.file, x.offset, true});
    expected = x.seq + 1;
  }
  if (s.live && expected <= s.limit) holes->push_back({expected, s.limit, 0, 0, false});
  return holes->empty() ? M : holes->front().a - 1;
}

// Damage and holes: corruption, or (not live) what recovery would cut.
void report_damage(StreamCheck& s, const std::vector<FileSummary>& sums, const std::vector<Hole>& holes,
                   std::uint64_t N, Findings& f) {
  // The watermark: what the writer declared durable.
  const std::uint64_t W = std::max(s.durable.value_or(0), s.state ? s.state->lastEventSeq : 0);
  std::uint64_t M = 0;
  for (const FileSummary& fs : sums) M = std::max(M, fs.max_seq);
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    const FileSummary& fs = sums[i];
    for (std::size_t k = 0; k < fs.damage.size(); ++k) {
      const Damage& d = fs.damage[k];
      const bool last = k + 1 == fs.damage.size();
      if (last && fs.torn) {
        // In a live stream, a damaged tail past the durable records is a write in flight.
        if (s.live && holes.empty()) continue;
        // SPEC "Recovery": a tail is torn only when every record 1..W is whole
        // elsewhere (N >= W); otherwise acknowledged records are lost in it.
        if (!s.live && s.job->type != StreamType::file && W > N) {
          f.block(s.files[i].path, d.offset,
                  std::string(d.what) + ": damaged tail (" + std::to_string(d.length) + " bytes), but seq " +
                      std::to_string(W) + " was acknowledged and seqs are whole only up to " + std::to_string(N) +
                      ": corruption, not repaired");
          continue;
        }
        f.add(s.files[i].path, d.offset,
              "torn tail (" + std::to_string(d.length) + " bytes), " + std::string(kRepairHint));
        if (s.live) s.blocked = true;
        else s.repairable = true;
        continue;
      }
      std::string what = std::string(d.what) + ": damaged " + (d.lines > 1 ? "lines" : "line") + " (" +
                         std::to_string(d.length) + " bytes";
      if (d.lines > 1) what += ", " + std::to_string(d.lines) + " lines";
      what += ")";
      if (last && !d.followed) what += ", not a torn tail: " + fs.tail_hidden;
      else what += " with valid records after it: corruption, not repaired";
      f.block(s.files[i].path, d.offset, std::move(what));
    }
  }

  // A hole that a damaged region could hold (between the seqs around it) is that damage.
  auto explained = [&](const Hole& h) {
    for (const FileSummary& fs : sums)
      for (const Damage& d : fs.damage)
        if (d.prev_seq < h.a && (!d.followed || h.b < d.next_seq)) return true;
    return false;
  };
  for (const Hole& h : holes) {
    if (explained(h)) continue;
    if (!h.has_next) {
      f.block(join_path(s.job->path, kDurableFile), 0,
              seq_range(h.a, h.b) + " missing, though the writer declared seq " + std::to_string(s.limit) + " durable");
      continue;
    }
    std::string what = seq_range(h.a, h.b) + " missing (no channel file holds " + (h.a == h.b ? "it" : "them") +
                       "; the next record is here)";
    if (!s.live && s.job->type == StreamType::run && h.a > W) {
      f.add(s.files[h.file].path, h.offset,
            what + ": records past a hole were never acknowledged (durable up to seq " + std::to_string(W) + "), " +
                std::string(kRepairHint) + " to cut them");
      s.repairable = true;
    } else if (s.live || h.a <= W) {
      f.block(s.files[h.file].path, h.offset,
              what + ", though seq " + std::to_string(s.live ? s.limit : W) + " was declared durable");
    } else {
      f.block(s.files[h.file].path, h.offset, what);
    }
  }
}

// A stream holding lines of another implementation (no crc, maybe no
// durable.seq): the verdict is recovery's own read-only plan (SPEC
// "Recovery"), so verify, --repair and every reader agree on the same bytes.
// Corruption the checks above did not block on is reported; records the plan
// would cut (past a hole above W) are reported for --repair to cut.
void check_against_recovery(StreamCheck& s, Findings& f) {
  const std::string_view chunks[] = {kChunksFile};
  Result<RecoveryPlan> plan =
      s.job->type == StreamType::run ? peek_run(*s.dir) : plan_stream_read_only(*s.dir, chunks);
  if (!plan.ok()) {
    if (!s.blocked) f.block(s.job->path, 0, plan.status().message() + "; not repaired");
    return;
  }
  if (!plan->cuts_anything() || s.repairable || s.blocked) return;
  // The plan holds the files that exist, in stream order.
  std::size_t j = 0;
  for (std::size_t i = 0; i < s.files.size() && j < plan->channels.size(); ++i) {
    if (!s.files[i].present) continue;
    const ChannelCut& c = plan->channels[j++];
    if (c.keep >= c.size) continue;
    f.add(s.files[i].path, c.keep,
          "records past seq " + std::to_string(plan->last_seq) + " follow a hole and were never acknowledged (durable "
          "up to seq " + std::to_string(plan->floor) + "), " + std::string(kRepairHint) + " to cut them");
  }
  s.repairable = true;
}

void check_durable(StreamCheck& s, std::uint64_t M, Findings& f) {
  const std::string path = join_path(s.job->path, kDurableFile);
  if (!s.durable_present) {
    // Another implementation of the contract writes none (SPEC).
    if (s.job->type == StreamType::run && !s.foreign_only) f.block(path, 0, "missing");
  } else if (!s.durable) {
    f.block(path, 0, "malformed: " + shown(s.durable_text) + " (want 20 digits and a newline)");
  } else if (!s.live && *s.durable > M) {
    f.block(path, 0, "says seq " + std::to_string(*s.durable) + " is durable, past the last record (seq " +
                         std::to_string(M) + ")");
  }
}

void check_meta(StreamCheck& s, Findings& f) {
  const std::string path = join_path(s.job->path, kMetaFile);
  if (!s.meta.present) {
    if (!s.live) f.block(path, 0, "missing");  // a live writer may be creating the run
    return;
  }
  if (!s.meta.ok) return f.block(path, 0, s.meta_error);
  const RunMetadata& m = s.meta.meta;
  if (!s.task_id.empty() && m.taskId != s.task_id)
    f.block(path, 0, "taskId " + shown(m.taskId) + " is not the task folder's name " + shown(s.task_id));
  else if (!is_valid_id(m.taskId))
    f.block(path, 0, "taskId " + shown(m.taskId) + " is not a valid id");
  if (!s.run_id.empty() && m.runId != s.run_id)
    f.block(path, 0, "runId " + shown(m.runId) + " is not the run folder's name " + shown(s.run_id));
  else if (!is_valid_id(m.runId))
    f.block(path, 0, "runId " + shown(m.runId) + " is not a valid id");
  if (!is_valid_id(m.stepId)) f.block(path, 0, "stepId " + shown(m.stepId) + " is not a valid id");
  if (m.attempt < 1) f.block(path, 0, "attempt " + std::to_string(m.attempt) + " is below 1");
  if (!parse_iso_ms(m.createdAt)) f.block(path, 0, "createdAt " + shown(m.createdAt) + " is not in toISOString form");
}

// state.json against meta.json and the log (M: last seq, N: end of the gap-free prefix).
void check_state(StreamCheck& s, const FileSummary& worker, std::uint64_t M, std::uint64_t N, Findings& f) {
  const std::string path = join_path(s.job->path, kStateFile);
  if (!s.state_present) {
    if (!s.live) f.block(path, 0, "missing");
    return;
  }
  if (!s.state) return f.block(path, 0, s.state_error);
  const RunStateSnapshot& st = *s.state;
  if (!s.live && st.lastEventSeq > M)
    f.block(path, 0, "lastEventSeq " + std::to_string(st.lastEventSeq) + " is past the last record (seq " +
                         std::to_string(M) + ")");
  if (s.meta.ok && st.attempt != s.meta.meta.attempt)
    f.block(path, 0, "attempt " + std::to_string(st.attempt) + ", but meta.json says " +
                         std::to_string(s.meta.meta.attempt));
  if (!parse_iso_ms(st.startedAt)) f.block(path, 0, "startedAt " + shown(st.startedAt) + " is not in toISOString form");
  if (!parse_iso_ms(st.updatedAt)) f.block(path, 0, "updatedAt " + shown(st.updatedAt) + " is not in toISOString form");
  if (st.finishedAt && !parse_iso_ms(*st.finishedAt))
    f.block(path, 0, "finishedAt " + shown(*st.finishedAt) + " is not in toISOString form");
  if (is_final(st.status) && !st.finishedAt)
    f.block(path, 0, "status " + shown(status_name(st.status)) + " without finishedAt");
  if (!s.live && (st.lastEventSeq < N || (s.durable_present && s.durable.value_or(0) < N))) s.unclosed = true;

  // Against the lifecycle, when every worker record up to lastEventSeq was read whole.
  if (!s.files[0].present || !s.replay.complete || !worker.damage.empty() || worker.order_problem ||
      st.lastEventSeq > N)
    return;
  const RunStateSnapshot& r = s.replay.state;
  if (st.status != r.status) {
    const std::string why = s.replay.status_seq == 0 ? "no status-changing event"
                                                     : "the last status-changing event is " + s.replay.status_type +
                                                           " at seq " + std::to_string(s.replay.status_seq);
    f.block(path, 0, "status " + shown(status_name(st.status)) + ", but the lifecycle up to lastEventSeq " +
                         std::to_string(st.lastEventSeq) + " gives " + shown(status_name(r.status)) + " (" + why + ")");
  }
  if (r.exitCode && st.exitCode != r.exitCode)
    f.block(path, 0, "exitCode " + (st.exitCode ? std::to_string(*st.exitCode) : std::string("absent")) +
                         ", but worker_exited says " + std::to_string(*r.exitCode));
  if (st.checkpointSeq < r.checkpointSeq)
    f.block(path, 0, "checkpointSeq " + std::to_string(st.checkpointSeq) + ", but " + std::to_string(r.checkpointSeq) +
                         " checkpoint slots were reserved up to lastEventSeq");
}

void Verifier::finalize(StreamCheck& s, JobResult* out, bool allow_repair) {
  Findings f{s, out->problems};
  if (!s.problems.empty()) s.blocked = true;
  for (VerifyProblem& p : s.problems) f.problems.push_back(std::move(p));
  if (!s.dir) return;

  // Each file: its segments joined, a damaged tail judged.
  std::vector<FileSummary> sums(s.files.size());
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    FileCheck& file = s.files[i];
    if (!file.present) continue;
    std::uint64_t dropped = 0;
    const std::size_t before = f.problems.size();
    FileSummary& fs = sums[i] = summarize(file, opts_.max_problems_per_file, &f.problems, &dropped);
    if (f.problems.size() > before || dropped > 0) s.blocked = true;
    if (dropped > 0) f.add(file.path, fs.checked_end, std::to_string(dropped) + " more problems in this file, not listed");
    if (!fs.damage.empty() && !fs.damage.back().followed) {
      fs.tail_hidden = judge_tail(*file.handles.back(), fs.damage.back().offset);
      fs.torn = fs.tail_hidden.empty();
    }
    s.records += fs.records;
    s.bytes += fs.bytes;
  }
  std::uint64_t M = 0;
  for (const FileSummary& fs : sums) M = std::max(M, fs.max_seq);

  std::vector<Hole> holes;
  const std::uint64_t N = find_holes(s, sums, f, &holes);
  report_damage(s, sums, holes, N, f);
  std::uint64_t own = 0;
  for (const FileSummary& fs : sums) own += fs.records - fs.foreign;
  std::uint64_t all = 0;
  for (const FileSummary& fs : sums) all += fs.records;
  s.foreign_only = own == 0 && all > 0;
  if (s.job->type != StreamType::file) check_durable(s, M, f);
  if (s.job->type == StreamType::run) {
    check_meta(s, f);
    check_state(s, sums[0], M, N, f);
  }
  if (!s.live && s.job->type != StreamType::file && all > own) check_against_recovery(s, f);

  out->records = s.records;
  out->bytes = s.bytes;
  out->live = s.live;
  out->unclosed = s.unclosed;
  if (s.job->type == StreamType::run && s.state && is_abandoned(s.live, s.state->status))
    out->warnings.push_back(s.job->path + ": running (abandoned): no writer holds it, yet state.json says " +
                            std::string(status_name(s.state->status)));
  if (!allow_repair || !opts_.repair || f.problems.empty()) return;
  if (s.live) {
    out->repairs.push_back(s.job->path + ": not repaired: a writer has it open");
  } else if (s.blocked) {
    out->repairs.push_back(s.job->path +
                           ": not repaired: corruption is never rewritten (--repair cuts only torn tails and "
                           "unacknowledged records, in streams without other problems)");
  } else if (s.repairable) {
    repair(s, out);
  }
}

namespace {

// A single file given alone is not a stream (its seqs need not start at 1 or
// be gap-free): only its torn tail is cut, never a whole valid line.
Result<RecoveryPlan> torn_tail_plan(File& file) {
  ChannelScanner scanner(file);
  ScannedRecord rec;
  bool have = true;
  std::uint64_t records = 0, foreign = 0;
  while (have) {
    RUNLOG_RETURN_IF_ERROR(scanner.next(&rec, &have));
    if (have) {
      ++records;
      if (rec.foreign) ++foreign;
    }
  }
  RecoveryPlan plan;
  ChannelCut cut;
  cut.size = scanner.size();
  cut.keep = scanner.valid_end();
  cut.records = records;
  cut.foreign = foreign;
  cut.reason = cut.keep < cut.size ? CutReason::torn_tail : CutReason::none;
  cut.torn_what = scanner.torn_what();
  plan.channels.push_back(cut);
  return plan;
}

}  // namespace

void Verifier::repair(StreamCheck& s, JobResult* out) {
  Job& job = *s.job;
  // Drop our descriptors first: recovery takes the writer's lock itself.
  for (FileCheck& f : s.files) f.handles.clear();
  s.dir.reset();
  if (job.type == StreamType::run) {
    std::string task, run, parent;
    std::string runs_root;
    if (job.comps.size() >= 2) {
      runs_root = job.root;
      for (std::size_t i = 0; i + 2 < job.comps.size(); ++i) runs_root = join_path(runs_root, job.comps[i]);
      task = job.comps[job.comps.size() - 2];
      run = job.comps.back();
    } else if (!real_names(job.path, &run, &task, &runs_root)) {
      out->repairs.push_back(job.path + ": not repaired: cannot resolve its path");
      return;
    }
    if (!is_valid_id(task) || !is_valid_id(run)) {
      out->repairs.push_back(job.path + ": not repaired: its folder names are not valid ids");
      return;
    }
    std::unique_ptr<Dir> root;
    Status st = fs_->open_root(runs_root, false, 0).get(root);
    RunMetadata meta;
    meta.taskId = task;
    meta.runId = run;
    RunFiles files;
    Result<RecoveredRun> rec = st.ok() ? open_run_dir(*root, meta, LayoutOptions{}, &files) : Result<RecoveredRun>(st);
    if (!rec.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + rec.status().to_string());
      return;
    }
    for (const std::string& r : rec->repairs) out->repairs.push_back(join_path(job.path, r));
    files.close();
    s.repaired = true;
    return;
  }
  // A conversation or a single file: cut the torn tail of its one file, under
  // the writer's lock when the folder has a durable.seq.
  std::unique_ptr<Dir> dir;
  if (Status st = job.type == StreamType::file ? fs_->open_root(job.root, false, 0).get(dir)
                                               : open_stream_dir(job, &dir);
      !st.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
    return;
  }
  std::unique_ptr<File> lock;
  if (Status st = dir->open_file(kDurableFile, OpenMode::read_write, 0).get(lock); st.ok()) {
    if (Status l = lock->lock_exclusive(); !l.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + l.to_string());
      return;
    }
  }
  const std::string name = job.type == StreamType::file ? job.file_name : std::string(kChunksFile);
  std::unique_ptr<File> file;
  if (Status st = dir->open_file(name, OpenMode::read_write, 0).get(file); !st.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
    return;
  }
  // Recovery's own plan, with the stream's floor: the same cuts opening it would make.
  std::uint64_t floor = 0;
  if (job.type != StreamType::file) {
    if (Status st = read_floor(*dir, lock.get()).get(floor); !st.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
      return;
    }
  }
  File* files[1] = {file.get()};
  RecoveryPlan plan;
  Status planned = job.type == StreamType::file ? torn_tail_plan(*file).get(plan) : plan_recovery(files, floor).get(plan);
  if (!planned.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + planned.to_string());
    return;
  }
  std::vector<std::string> cuts;
  if (Status a = apply_recovery_plan(files, plan, &cuts); !a.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + a.to_string());
    return;
  }
  for (const std::string& c : cuts) out->repairs.push_back(join_path(dir->path(), c));
  s.repaired = true;
}

// The task and run folder names of a run, for meta.json's ids.
void init_ids(StreamCheck& s) {
  const Job& job = *s.job;
  if (job.type != StreamType::run) return;
  if (job.comps.size() >= 2) {
    s.task_id = job.comps[job.comps.size() - 2];
    s.run_id = job.comps.back();
  } else {
    std::string gp;
    if (!real_names(job.path, &s.run_id, &s.task_id, &gp)) s.task_id = s.run_id = "";
  }
}

// Prepare, scan and finalize one stream on this thread (small streams, and
// the check after a repair).
void Verifier::check_inline(Job& job, Scanner& scanner, JobResult* out) {
  StreamCheck s;
  s.job = &job;
  init_ids(s);
  prepare(s, false);
  for (FileCheck& f : s.files)
    for (ScanTask& t : f.tasks) scanner.scan(t);
  finalize(s, out, false);
}

void Verifier::start_job(std::size_t j, Scanner& scanner) {
  StreamCheck& s = *checks_[j];
  s.job = &jobs_[j];
  init_ids(s);
  prepare(s, true);
  // Segments past the first of each file go to the pool; the first ones are done here.
  std::vector<Task> mine, theirs;
  for (std::size_t fi = 0; fi < s.files.size(); ++fi)
    for (std::size_t k = 0; k < s.files[fi].tasks.size(); ++k) (k == 0 ? mine : theirs).push_back({j, fi, k});
  s.pending.store(static_cast<int>(mine.size() + theirs.size()) + 1);
  if (!theirs.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = theirs.rbegin(); it != theirs.rend(); ++it) parts_.push_front(*it);
    cv_.notify_all();
  }
  for (const Task& t : mine) {
    scanner.scan(s.files[t.file].tasks[t.seg]);
    s.pending.fetch_sub(1);
  }
  segment_done(j, scanner);
}

void Verifier::segment_done(std::size_t j, Scanner& scanner) {
  StreamCheck& s = *checks_[j];
  if (s.pending.fetch_sub(1) != 1) return;
  JobResult& out = results_[j];
  finalize(s, &out, true);
  if (s.repaired) {
    // Check again what recovery left.
    std::vector<std::string> repairs = std::move(out.repairs);
    for (FileCheck& f : s.files) f.handles.clear();
    s.dir.reset();
    out = JobResult{};
    check_inline(*s.job, scanner, &out);
    out.repairs = std::move(repairs);
  }
  checks_[j].reset();  // descriptors and segment results go now
  streams_done_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_;
  cv_.notify_all();
}

void Verifier::worker_loop(Scanner& scanner) {
  for (;;) {
    Task part{};
    bool have_part = false;
    std::size_t job = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !parts_.empty() || next_job_ < jobs_.size() || finished_ == jobs_.size(); });
      if (!parts_.empty()) {
        part = parts_.front();
        parts_.pop_front();
        have_part = true;
      } else if (next_job_ < jobs_.size()) {
        job = next_job_++;
      } else {
        return;
      }
    }
    if (have_part) {
      StreamCheck& s = *checks_[part.job];
      scanner.scan(s.files[part.file].tasks[part.seg]);
      segment_done(part.job, scanner);
    } else {
      start_job(job, scanner);
    }
  }
}

Result<VerifyReport> Verifier::run() {
  const auto t0 = Clock::now();
  VerifyReport report;
  checks_.resize(jobs_.size());
  for (auto& c : checks_) c = std::make_unique<StreamCheck>();
  results_.resize(jobs_.size());
  std::uint64_t total_bytes = 0;
  for (const Job& j : jobs_) total_bytes += j.bytes;

  const unsigned n = std::max(1u, std::min<unsigned>(opts_.threads, 64));
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([this] {
      Scanner scanner(&bytes_done_);
      worker_loop(scanner);
    });
  if (opts_.progress) {
    std::unique_lock<std::mutex> lock(mu_);
    while (finished_ < jobs_.size()) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (finished_ == jobs_.size()) break;
      VerifyProgress p;
      p.streams_done = streams_done_.load();
      p.streams_total = jobs_.size();
      p.bytes_done = bytes_done_.load();
      p.bytes_total = std::max(total_bytes, p.bytes_done);
      p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      lock.unlock();
      opts_.progress(p);
      lock.lock();
    }
  }
  for (auto& t : threads) t.join();

  report.problems = std::move(walk_problems_);
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    JobResult& r = results_[j];
    for (VerifyProblem& p : r.problems) report.problems.push_back(std::move(p));
    for (std::string& s : r.repairs) report.repairs.push_back(std::move(s));
    for (std::string& s : r.warnings) report.warnings.push_back(std::move(s));
    report.records += r.records;
    report.bytes += r.bytes;
    if (r.live) ++report.live;
    if (r.unclosed) ++report.unclosed;
    switch (jobs_[j].type) {
      case StreamType::run: ++report.runs; break;
      case StreamType::conversation: ++report.conversations; break;
      case StreamType::file: ++report.files; break;
    }
  }
  std::sort(report.warnings.begin(), report.warnings.end());
  std::sort(report.problems.begin(), report.problems.end(), [](const VerifyProblem& a, const VerifyProblem& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.offset != b.offset) return a.offset < b.offset;
    return a.what < b.what;
  });
  report.problems.erase(std::unique(report.problems.begin(), report.problems.end(),
                                    [](const VerifyProblem& a, const VerifyProblem& b) {
                                      return a.file == b.file && a.offset == b.offset && a.what == b.what;
                                    }),
                        report.problems.end());
  std::sort(report.repairs.begin(), report.repairs.end());
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

}  // namespace

std::string VerifyProblem::to_string() const { return file + ":" + std::to_string(offset) + ": " + what; }

Result<VerifyReport> verify(std::span<const std::string> paths, const VerifyOptions& options) {
  std::shared_ptr<Fs> fs = options.fs ? options.fs : posix_fs();
  Verifier v(options, fs);
  for (const std::string& p : paths) RUNLOG_RETURN_IF_ERROR(v.discover(p));
  return v.run();
}

}  // namespace runlog::io
