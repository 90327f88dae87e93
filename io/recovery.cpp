// io/recovery.cpp — the recovery scanner (see io/recovery.h).
#include "io/recovery.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/crc32c.h"
#include "core/lifecycle.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

constexpr std::string_view kSeqPrefix = "{\"seq\":";
constexpr std::string_view kCrcKey = ",\"crc\":\"";  // 8 bytes, then 8 hex, then "}\n
constexpr std::size_t kMaxSeqDigits = 20;              // 18446744073709551615
constexpr std::size_t kHeadBytes = 32;                 // >= prefix + 20 digits + ','

// CRC32C arithmetic in GF(2) (as zlib's crc32_combine): crc(A||B) ==
// crc_shift(crc(A), |B|) ^ crc(B), so the CRC of a suffix of a line follows
// from the line's CRC and the CRC of the prefix before it.
constexpr std::uint32_t kCrcPoly = 0x82F63B78u;  // reflected Castagnoli

constexpr std::uint32_t mult_mod_p(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kCrcPoly : b >> 1;
  }
  return p;
}

struct PowersOfX {
  std::uint32_t x2n[32];  // x^(2^n) mod p
  constexpr PowersOfX() : x2n() {
    std::uint32_t p = 1u << 30;  // x^1
    x2n[0] = p;
    for (int n = 1; n < 32; ++n) x2n[n] = p = mult_mod_p(p, p);
  }
};
constexpr PowersOfX kPowers;

// crc(A) shifted over n more bytes: what crc(A || n zero bytes) would be without pre/post inversion.
std::uint32_t crc_shift(std::uint32_t crc, std::uint64_t n) noexcept {
  std::uint32_t p = 1u << 31;  // x^0
  for (unsigned k = 3; n != 0; n >>= 1, ++k)
    if (n & 1) p = mult_mod_p(kPowers.x2n[k & 31], p);
  return mult_mod_p(p, crc);
}

// Parses `{"seq":<digits>,` at the start of head[0..n). Returns "" and *seq
// on success, else what is wrong.
const char* parse_head(const char* head, std::size_t n, std::uint64_t* seq) noexcept {
  if (n < kSeqPrefix.size() || std::memcmp(head, kSeqPrefix.data(), kSeqPrefix.size()) != 0) return "not a record";
  std::size_t i = kSeqPrefix.size();
  std::size_t digits = 0;
  std::uint64_t v = 0;
  bool overflow = false;
  while (i < n && head[i] >= '0' && head[i] <= '9') {
    unsigned d = static_cast<unsigned>(head[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
    v = v * 10 + d;
    ++digits;
    ++i;
    if (digits > kMaxSeqDigits) return "bad seq";
  }
  if (digits == 0) return "not a record";
  if (i >= n || head[i] != ',') return "not a record";
  if (head[kSeqPrefix.size()] == '0' || overflow) return "bad seq";  // leading zero, 0, or > 2^64-1
  *seq = v;
  return "";
}

// `,"xxx":"xxxxxxxx"}\n` by its structural bytes (19 bytes at t).
bool own_shape_at(const char* t) noexcept {
  return t[0] == ',' && t[1] == '"' && t[5] == '"' && t[6] == ':' && t[7] == '"' && t[16] == '"' && t[17] == '}' &&
         t[18] == '\n';
}

// Validates one line fed in pieces: keeps a running CRC over all but the last
// kCrcSuffixBytes bytes, the first kHeadBytes bytes and the last
// kCrcSuffixBytes bytes. Constant memory whatever the line length.
class LineValidator {
 public:
  void reset() noexcept {
    length_ = 0;
    crc_ = 0;
    head_len_ = 0;
    tail_len_ = 0;
  }

  void feed(const char* p, std::size_t n) noexcept {
    length_ += n;
    if (head_len_ < kHeadBytes) {
      std::size_t k = std::min(n, kHeadBytes - head_len_);
      std::memcpy(head_ + head_len_, p, k);
      head_len_ += k;
    }
    if (n >= kCrcSuffixBytes) {
      crc_ = crc32c_extend(crc_, tail_, tail_len_);
      crc_ = crc32c_extend(crc_, p, n - kCrcSuffixBytes);
      std::memcpy(tail_, p + n - kCrcSuffixBytes, kCrcSuffixBytes);
      tail_len_ = kCrcSuffixBytes;
      return;
    }
    std::size_t total = tail_len_ + n;
    if (total > kCrcSuffixBytes) {
      std::size_t drop = total - kCrcSuffixBytes;  // < tail_len_ because n < kCrcSuffixBytes
      crc_ = crc32c_extend(crc_, tail_, drop);
      std::memmove(tail_, tail_ + drop, tail_len_ - drop);
      tail_len_ -= drop;
    }
    std::memcpy(tail_ + tail_len_, p, n);
    tail_len_ += n;
  }

  std::uint64_t length() const noexcept { return length_; }
  // The CRC of the bytes before the last kCrcSuffixBytes (once the line is complete).
  std::uint32_t covered_crc() const noexcept { return crc_; }
  // Whether the line ends with a well-formed `,"crc":"xxxxxxxx"}\n`; *stored is its value.
  bool crc_suffix(std::uint32_t* stored) const noexcept {
    return tail_len_ == kCrcSuffixBytes && std::memcmp(tail_, kCrcKey.data(), kCrcKey.size()) == 0 &&
           tail_[16] == '"' && tail_[17] == '}' && tail_[18] == '\n' &&
           parse_crc32c_hex(tail_ + kCrcKey.size(), stored);
  }

  // Whether the line fed so far ends like runlog's own (has_own_suffix_shape).
  bool own_shape() const noexcept {
    return tail_len_ == kCrcSuffixBytes && own_shape_at(tail_);
  }

  // The verdict on the line fed so far, which ends with its '\n'.
  LineVerdict finish() const noexcept {
    LineVerdict v;
    std::uint64_t seq = 0;
    const char* what = parse_head(head_, head_len_, &seq);
    if (*what != '\0') {
      v.what = what;
      return v;
    }
    std::uint32_t stored = 0;
    if (!crc_suffix(&stored)) {
      v.what = "no crc";
      return v;
    }
    if (stored != crc_) {
      v.what = "bad crc";
      return v;
    }
    v.valid = true;
    v.seq = seq;
    return v;
  }

 private:
  std::uint64_t length_ = 0;
  std::uint32_t crc_ = 0;
  std::size_t head_len_ = 0;
  std::size_t tail_len_ = 0;
  char head_[kHeadBytes];
  char tail_[kCrcSuffixBytes];
};

constexpr const char* kNoNewline = "no final newline";

std::string at(const File& f, std::uint64_t offset) {
  return f.path() + ":" + std::to_string(offset) + ": ";
}

std::string_view base_name(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A read-only File over bytes, for plan_recovery_bytes().
class BytesFile final : public File {
 public:
  BytesFile(std::string_view bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}
  Status pwritev(const struct iovec*, int, std::uint64_t) override { return read_only(); }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    *got = 0;
    if (offset >= bytes_.size()) return Status::OK();
    *got = std::min<std::uint64_t>(n, bytes_.size() - offset);
    std::memcpy(buf, bytes_.data() + offset, *got);
    return Status::OK();
  }
  Status datasync() override { return read_only(); }
  Status truncate(std::uint64_t) override { return read_only(); }
  Result<std::uint64_t> size() override { return static_cast<std::uint64_t>(bytes_.size()); }
  const std::string& path() const override { return name_; }

 private:
  Status read_only() const { return Status::Invalid(name_ + ": read-only bytes"); }
  std::string_view bytes_;
  std::string name_;
};

}  // namespace

bool has_own_suffix_shape(std::string_view line) noexcept {
  return line.size() >= kCrcSuffixBytes && own_shape_at(line.data() + line.size() - kCrcSuffixBytes);
}

bool is_foreign_record(std::string_view line, simdjson::dom::parser& parser, std::uint64_t* seq) {
  if (!line.empty() && line.back() == '\n') {
    if (has_own_suffix_shape(line)) return false;
    line.remove_suffix(1);
  } else if (line.size() + 1 >= kCrcSuffixBytes) {
    // Same shape test without the '\n'.
    const char* t = line.data() + line.size() - (kCrcSuffixBytes - 1);
    if (t[0] == ',' && t[1] == '"' && t[5] == '"' && t[6] == ':' && t[7] == '"' && t[16] == '"' && t[17] == '}')
      return false;
  }
  if (line.find('\n') != std::string_view::npos) return false;  // two lines run together
  simdjson::dom::element el;
  if (parser.parse(line.data(), line.size(), true).get(el)) return false;
  simdjson::dom::object obj;
  if (el.get_object().get(obj)) return false;
  std::uint64_t v = 0;
  if (obj["seq"].get_uint64().get(v) || v == 0) return false;
  if (obj["crc"].error() != simdjson::NO_SUCH_FIELD) return false;
  *seq = v;
  return true;
}

LineVerdict check_record_line(std::string_view line, simdjson::dom::parser& parser) {
  LineVerdict v = check_line(line);
  if (v.valid || line.empty() || line.back() != '\n') return v;
  std::uint64_t seq = 0;
  if (is_foreign_record(line, parser, &seq)) {
    v.valid = true;
    v.foreign = true;
    v.seq = seq;
    v.what = "";
  }
  return v;
}

LineVerdict check_line(std::string_view line) noexcept {
  LineVerdict v;
  if (line.empty() || line.back() != '\n') {
    v.what = kNoNewline;
    return v;
  }
  if (line.find('\n') != line.size() - 1) {
    v.what = "not a record";
    return v;
  }
  LineValidator lv;
  lv.reset();
  lv.feed(line.data(), line.size());
  return lv.finish();
}

// ---------------------------------------------------------------------------
// ChannelScanner

struct ChannelScanner::Impl {
  Impl(File& f, std::size_t chunk) : file(f), buf(buffer_bytes(f, chunk)) {}

  // The read buffer: `chunk` bytes, but no more than a small file needs (a
  // zeroed 1 MiB per channel made opening many small runs slow). A file that
  // grows while it is scanned is still read whole, in smaller reads.
  static std::size_t buffer_bytes(File& f, std::size_t chunk) {
    constexpr std::size_t kMinBuffer = 64 * 1024;
    chunk = std::max<std::size_t>(chunk, 1);
    std::uint64_t size = 0;
    if (!f.size().get(size).ok() || size >= chunk) return chunk;
    return std::min<std::size_t>(chunk, std::max<std::size_t>(static_cast<std::size_t>(size) + 1, kMinBuffer));
  }

  struct Line {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    LineVerdict verdict;
    // For an invalid line that ends with a well-formed crc suffix: that crc,
    // and the CRC of the bytes before the suffix.
    bool has_crc_suffix = false;
    std::uint32_t stored_crc = 0;
    std::uint32_t covered_crc = 0;
  };

  // The next '\n'-terminated segment, or the final bytes without one
  // (verdict "no final newline"). *got = false at the end of the file.
  Status read_line(Line* out, bool* got) {
    v.reset();
    const std::uint64_t start = buf_base + buf_pos;
    for (;;) {
      if (buf_pos == buf_len) {
        if (eof) {
          *got = v.length() > 0;
          if (*got) {
            *out = Line{start, v.length(), LineVerdict{}};
            out->verdict.what = kNoNewline;
          }
          return Status::OK();
        }
        buf_base += buf_len;
        buf_pos = 0;
        buf_len = 0;
        std::size_t n = 0;
        RUNLOG_RETURN_IF_ERROR(file.pread(buf.data(), buf.size(), buf_base, &n));
        if (n == 0) {
          eof = true;
          continue;
        }
        buf_len = n;
      }
      const char* p = buf.data() + buf_pos;
      const std::size_t avail = buf_len - buf_pos;
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', avail));
      const std::size_t k = nl ? static_cast<std::size_t>(nl - p) + 1 : avail;
      v.feed(p, k);
      buf_pos += k;
      if (nl) {
        *out = Line{start, v.length(), v.finish()};
        if (!out->verdict.valid) {
          out->has_crc_suffix = v.crc_suffix(&out->stored_crc);
          out->covered_crc = v.covered_crc();
          if (!v.own_shape()) RUNLOG_RETURN_IF_ERROR(check_foreign(out));
        }
        *got = true;
        return Status::OK();
      }
    }
  }

  // A line that is not runlog's own and does not end like one: a record of
  // another implementation when is_foreign_record() says so. Such lines are
  // rare in runlog's own files (only damage makes them), so the line is read
  // again whole rather than kept.
  Status check_foreign(Line* ln) {
    // Memory stays bounded: a longer "line" (garbage without a newline for
    // that long) is damage, whoever wrote it.
    constexpr std::uint64_t kMaxForeignLine = std::uint64_t{64} << 20;
    if (ln->length > kMaxForeignLine) return Status::OK();
    if (!parser) parser = std::make_unique<simdjson::dom::parser>();
    if (ln->offset >= buf_base) {
      const char* p = buf.data() + (ln->offset - buf_base);
      std::uint64_t seq = 0;
      if (is_foreign_record(std::string_view(p, static_cast<std::size_t>(ln->length)), *parser, &seq))
        ln->verdict = LineVerdict{true, true, seq, ""};
      return Status::OK();
    }
    whole.resize(static_cast<std::size_t>(ln->length));
    std::size_t n = 0;
    RUNLOG_RETURN_IF_ERROR(file.pread(whole.data(), whole.size(), ln->offset, &n));
    std::uint64_t seq = 0;
    if (n == whole.size() && is_foreign_record(whole, *parser, &seq)) ln->verdict = LineVerdict{true, true, seq, ""};
    return Status::OK();
  }

  // An invalid line can hide a valid record that ends where it ends: when
  // the '\n' of the record before was damaged, the two run together. This
  // looks for a `{"seq":<digits>,` at offset p inside the line whose bytes up
  // to the line's crc suffix have the stored CRC, by re-reading the line
  // (in chunks; only damaged lines that end like a record get here).
  Status find_embedded(const Line& ln, ScannedRecord* found, bool* has) {
    *has = false;
    if (!ln.has_crc_suffix) return Status::OK();
    const std::uint64_t line_end = ln.offset + ln.length;
    const std::uint64_t covered_end = line_end - kCrcSuffixBytes;
    if (rescan.empty()) rescan.resize(std::max<std::size_t>(buf.size(), 4 * kHeadBytes));
    std::uint32_t crc = 0;  // of [ln.offset, pos)
    std::uint64_t pos = ln.offset;
    while (pos < covered_end) {
      std::size_t n = 0;
      const std::uint64_t want = std::min<std::uint64_t>(rescan.size(), line_end - pos);
      RUNLOG_RETURN_IF_ERROR(file.pread(rescan.data(), static_cast<std::size_t>(want), pos, &n));
      if (n == 0) break;  // shrank under us: nothing more to find
      const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(n, covered_end - pos));
      std::size_t summed = 0;  // rescan[0..summed) is in crc
      std::size_t from = 0;   // where to look for the next '{'
      bool reread = false;
      while (from < avail) {
        const char* brace = static_cast<const char*>(std::memchr(rescan.data() + from, '{', avail - from));
        if (brace == nullptr) break;
        const std::size_t i = static_cast<std::size_t>(brace - rescan.data());
        crc = crc32c_extend(crc, rescan.data() + summed, i - summed);
        summed = i;
        const std::uint64_t p = pos + i;
        if (n - i < kHeadBytes && pos + n < line_end && i > 0) {
          reread = true;  // the head may run past this read: read again from p
          break;
        }
        std::uint64_t seq = 0;
        if (p != ln.offset && *parse_head(rescan.data() + i, n - i, &seq) == '\0' &&
            (ln.covered_crc ^ crc_shift(crc, covered_end - p)) == ln.stored_crc) {
          *found = ScannedRecord{seq, p, line_end - p};
          *has = true;
          return Status::OK();
        }
        from = i + 1;
      }
      if (!reread) {
        crc = crc32c_extend(crc, rescan.data() + summed, avail - summed);
        summed = avail;
      }
      pos += summed;
    }
    return Status::OK();
  }

  File& file;
  std::vector<char> buf;
  std::vector<char> rescan;  // for find_embedded(), made on first use
  std::unique_ptr<simdjson::dom::parser> parser;  // for check_foreign(), made on first use
  std::string whole;                              // a line read again whole
  std::uint64_t buf_base = 0;  // file offset of buf[0]
  std::size_t buf_len = 0;
  std::size_t buf_pos = 0;
  bool eof = false;
  LineValidator v;

  bool done = false;
  bool damaged = false;          // a damaged line was seen; only damage may follow
  std::uint64_t damage_at = 0;   // its offset
  const char* damage_what = "";
  std::uint64_t last_seq = 0;
  std::uint64_t last_offset = 0;
};

ChannelScanner::ChannelScanner(File& file, std::size_t chunk_bytes)
    : impl_(std::make_unique<Impl>(file, chunk_bytes)) {}
ChannelScanner::~ChannelScanner() = default;

Status ChannelScanner::next(ScannedRecord* rec, bool* have) {
  Impl& s = *impl_;
  *have = false;
  if (s.done) return Status::OK();
  for (;;) {
    Impl::Line ln;
    bool got = false;
    RUNLOG_RETURN_IF_ERROR(s.read_line(&ln, &got));
    if (!got) {
      s.done = true;
      return Status::OK();
    }
    ScannedRecord later{ln.verdict.seq, ln.offset, ln.length, ln.verdict.foreign};
    if (!ln.verdict.valid) {
      if (!s.damaged) {
        s.damaged = true;
        s.damage_at = ln.offset;
        s.damage_what = ln.verdict.what;
      }
      bool hidden = false;
      RUNLOG_RETURN_IF_ERROR(s.find_embedded(ln, &later, &hidden));
      if (!hidden) continue;
    }
    if (s.damaged) {
      return Status::Corruption(at(s.file, s.damage_at) + s.damage_what + ", with valid records after it (seq " +
                                std::to_string(later.seq) + " at offset " + std::to_string(later.offset) + ")");
    }
    if (ln.verdict.seq <= s.last_seq) {
      const char* how = ln.verdict.seq == s.last_seq ? " repeats" : " after seq ";
      std::string msg = at(s.file, ln.offset) + "seq " + std::to_string(ln.verdict.seq) + how;
      if (ln.verdict.seq != s.last_seq) msg += std::to_string(s.last_seq);
      msg += " (the record before it is at offset " + std::to_string(s.last_offset) +
             "; seqs must increase within a file)";
      return Status::Corruption(std::move(msg));
    }
    s.last_seq = ln.verdict.seq;
    s.last_offset = ln.offset;
    *rec = ScannedRecord{ln.verdict.seq, ln.offset, ln.length, ln.verdict.foreign};
    *have = true;
    return Status::OK();
  }
}

std::uint64_t ChannelScanner::size() const noexcept { return impl_->buf_base + impl_->buf_len; }
std::uint64_t ChannelScanner::valid_end() const noexcept { return impl_->damaged ? impl_->damage_at : size(); }
const char* ChannelScanner::torn_what() const noexcept { return impl_->damaged ? impl_->damage_what : ""; }
File& ChannelScanner::file() const noexcept { return impl_->file; }

// ---------------------------------------------------------------------------
// The merge

Result<RecoveryPlan> plan_recovery(std::span<File* const> files, std::uint64_t floor, const RecordVisitor& visit,
                                   std::size_t chunk_bytes) {
  struct Cursor {
    std::unique_ptr<ChannelScanner> scanner;
    ScannedRecord head;
    bool has = false;
  };
  std::vector<Cursor> cur(files.size());
  RecoveryPlan plan;
  plan.floor = floor;
  plan.channels.resize(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    cur[i].scanner = std::make_unique<ChannelScanner>(*files[i], chunk_bytes);
    RUNLOG_RETURN_IF_ERROR(cur[i].scanner->next(&cur[i].head, &cur[i].has));
  }

  // k-way: take seq `expected` from whichever file holds it next.
  std::uint64_t n = 0;
  for (;;) {
    const std::uint64_t expected = n + 1;
    std::size_t found = files.size();
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!cur[i].has || cur[i].head.seq != expected) continue;
      if (found != files.size()) {
        return Status::Corruption(at(*files[i], cur[i].head.offset) + "seq " + std::to_string(expected) +
                                  " repeats (also in " + files[found]->path() + " at offset " +
                                  std::to_string(cur[found].head.offset) + ")");
      }
      found = i;
    }
    if (found == files.size()) break;
    if (visit) RUNLOG_RETURN_IF_ERROR(visit(found, cur[found].head));
    ++plan.channels[found].records;
    if (cur[found].head.foreign) ++plan.channels[found].foreign;
    n = expected;
    RUNLOG_RETURN_IF_ERROR(cur[found].scanner->next(&cur[found].head, &cur[found].has));
    if (n == std::numeric_limits<std::uint64_t>::max()) break;
  }
  plan.last_seq = n;

  // Each file keeps what precedes its first record past N (or its torn
  // tail); the rest of it is still read, to find corruption anywhere.
  for (std::size_t i = 0; i < files.size(); ++i) {
    Cursor& c = cur[i];
    ChannelCut& cut = plan.channels[i];
    if (c.has) {
      cut.keep = c.head.offset;
      cut.reason = CutReason::past_hole;
      ScannedRecord r;
      bool more = true;
      while (more) RUNLOG_RETURN_IF_ERROR(c.scanner->next(&r, &more));
    } else {
      cut.keep = c.scanner->valid_end();
      if (cut.keep < c.scanner->size()) {
        cut.reason = CutReason::torn_tail;
        cut.torn_what = c.scanner->torn_what();
      }
    }
    cut.size = c.scanner->size();
  }

  // The floor: every record 1..W was acknowledged; none may be cut.
  if (n < floor) {
    // Where the first missing record should have been: a damaged tail, else
    // the record that follows the hole, else the end of the first file.
    std::size_t where = files.size();
    for (std::size_t i = 0; i < files.size(); ++i)
      if (plan.channels[i].reason == CutReason::torn_tail) {
        where = i;
        break;
      }
    std::string msg;
    if (where != files.size()) {
      const ChannelCut& cut = plan.channels[where];
      msg = at(*files[where], cut.keep) + cut.torn_what + ": damaged line (" + std::to_string(cut.size - cut.keep) +
            " bytes)";
    } else {
      std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
      for (std::size_t i = 0; i < files.size(); ++i)
        if (plan.channels[i].reason == CutReason::past_hole && cur[i].head.seq < next) {
          next = cur[i].head.seq;
          where = i;
        }
      if (where != files.size()) {
        msg = at(*files[where], plan.channels[where].keep) + "seq " + std::to_string(next) + " follows a hole";
      } else {
        where = 0;
        msg = at(*files[0], plan.channels[0].size) + "the log ends";
      }
    }
    msg += ": seq " + std::to_string(n + 1) + " is missing, though seq " + std::to_string(floor) +
           " was acknowledged (durable.seq / state.json); corruption, nothing changed";
    return Status::Corruption(std::move(msg));
  }
  return plan;
}

Result<std::uint64_t> read_floor(Dir& dir, File* durable_seq) {
  std::uint64_t w = 0;
  if (durable_seq != nullptr) {
    char buf[64];
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(durable_seq->pread(buf, sizeof buf, 0, &got));
    if (std::optional<std::uint64_t> d = parse_durable_seq(std::string_view(buf, got))) w = *d;
  }
  std::string text;
  Status st = read_file(dir, "state.json").get(text);
  if (st.ok()) {
    if (Result<RunStateSnapshot> state = state_from_json(text); state.ok()) w = std::max(w, state->lastEventSeq);
  } else if (st.code() != Errc::not_found) {
    return st;
  }
  return w;
}

Result<RecoveryPlan> plan_stream_read_only(Dir& dir, std::span<const std::string_view> channel_names) {
  std::vector<std::unique_ptr<File>> owned;
  std::vector<File*> files;
  for (std::string_view name : channel_names) {
    std::unique_ptr<File> f;
    Status st = dir.open_file(name, OpenMode::read_only, 0).get(f);
    if (st.code() == Errc::not_found) continue;
    RUNLOG_RETURN_IF_ERROR(st);
    files.push_back(f.get());
    owned.push_back(std::move(f));
  }
  std::unique_ptr<File> durable;
  if (Status st = dir.open_file("durable.seq", OpenMode::read_only, 0).get(durable);
      !st.ok() && st.code() != Errc::not_found)
    return st;
  std::uint64_t floor = 0;
  RUNLOG_RETURN_IF_ERROR(read_floor(dir, durable.get()).get(floor));
  return plan_recovery(files, floor);
}

Result<RecoveryPlan> plan_recovery_bytes(std::span<const std::string_view> contents, std::size_t chunk_bytes,
                                         std::uint64_t floor) {
  std::vector<std::unique_ptr<File>> owned;
  std::vector<File*> files;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    owned.push_back(std::make_unique<BytesFile>(contents[i], "file" + std::to_string(i)));
    files.push_back(owned.back().get());
  }
  return plan_recovery(files, floor, {}, chunk_bytes);
}

std::string describe_cut(std::string_view file_name, const ChannelCut& cut, std::uint64_t last_seq) {
  std::string s(file_name);
  s += ": cut ";
  s += std::to_string(cut.size - cut.keep);
  s += " bytes at offset ";
  s += std::to_string(cut.keep);
  if (cut.reason == CutReason::past_hole) {
    s += " (past a hole at seq ";
    s += std::to_string(last_seq + 1);
    s += ")";
  } else {
    s += " (torn tail)";
  }
  return s;
}

Status apply_recovery_plan(std::span<File* const> files, const RecoveryPlan& plan,
                           std::vector<std::string>* repairs) {
  if (files.size() != plan.channels.size())
    return Status::Invalid("apply_recovery_plan: the plan is for " + std::to_string(plan.channels.size()) +
                           " files, not " + std::to_string(files.size()));
  for (std::size_t i = 0; i < files.size(); ++i) {
    const ChannelCut& cut = plan.channels[i];
    const bool cut_it = cut.keep < cut.size;
    if (cut_it) RUNLOG_RETURN_IF_ERROR(files[i]->truncate(cut.keep));
    // Synced even when nothing was cut: after a process kill the records
    // 1..N may still be only in the page cache, and N is about to be
    // declared durable. An empty file that was never cut holds nothing.
    if (cut_it || cut.keep > 0) RUNLOG_RETURN_IF_ERROR(files[i]->datasync());
    if (cut_it && repairs) repairs->push_back(describe_cut(base_name(files[i]->path()), cut, plan.last_seq));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// LifecycleReplay

struct LifecycleReplay::Impl {
  simdjson::dom::parser parser;
};

LifecycleReplay::LifecycleReplay() : impl_(std::make_unique<Impl>()) {}
LifecycleReplay::~LifecycleReplay() = default;

Status LifecycleReplay::apply(std::string_view line, RunStateSnapshot* state) {
  simdjson::dom::element doc;
  if (auto err = impl_->parser.parse(line.data(), line.size()).get(doc))
    return Status::Invalid(std::string("not JSON: ") + simdjson::error_message(err));
  std::uint64_t seq = 0;
  if (doc["seq"].get_uint64().get(seq)) return Status::Invalid("field \"seq\": missing or not an integer");
  std::string_view type_name, created_at;
  if (doc["type"].get_string().get(type_name)) return Status::Invalid("field \"type\": missing or not a string");
  if (doc["createdAt"].get_string().get(created_at))
    return Status::Invalid("field \"createdAt\": missing or not a string");

  RunStateSnapshot& s = *state;
  if (std::optional<EventType> type = parse_event_type(type_name)) {
    std::optional<std::int64_t> exit_code;
    std::int64_t code = 0;
    if (*type == EventType::worker_exited && !doc["data"]["exitCode"].get_int64().get(code)) exit_code = code;
    apply_lifecycle_event(&s, *type, exit_code, created_at);
  } else {
    s.updatedAt = std::string(created_at);  // unknown event types change only updatedAt and lastEventSeq
  }
  s.lastEventSeq = seq;
  return Status::OK();
}

}  // namespace runlog::io
