// io/scanner.cpp — the record rule, the scanner of one file and the
// decision (see io/scanner.h).
#include "io/scanner.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/crc32c.h"

namespace runlog::io {
namespace {


using format::kCrcKey;
using format::kMaxSeqDigits;
using format::kSeqPrefix;
constexpr std::size_t kHeadBytes = 32;                 // >= prefix + 20 digits + ','

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

}  // namespace

std::string at_offset(const File& f, std::uint64_t offset) {
  return f.path() + ":" + std::to_string(offset) + ": ";
}


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
  Impl(File& f, std::size_t chunk, ScanReporter* r) : file(f), reporter(r), buf(buffer_bytes(f, chunk)) {}

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
            (ln.covered_crc ^ crc32c_shift(crc, covered_end - p)) == ln.stored_crc) {
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
  ScanReporter* reporter;  // may be null
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

ChannelScanner::ChannelScanner(File& file, std::size_t chunk_bytes, ScanReporter* reporter)
    : impl_(std::make_unique<Impl>(file, chunk_bytes, reporter)) {}
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
      if (s.damaged && s.reporter)
        s.reporter->damage(s.file, ScanDamage{s.damage_at, s.buf_base + s.buf_len - s.damage_at, s.damage_what, false});
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
      if (s.reporter) s.reporter->damage(s.file, ScanDamage{s.damage_at, later.offset - s.damage_at, s.damage_what, true});
      return Status::Corruption(at_offset(s.file, s.damage_at) + s.damage_what + ", with valid records after it (seq " +
                                std::to_string(later.seq) + " at offset " + std::to_string(later.offset) + ")");
    }
    if (ln.verdict.seq <= s.last_seq) {
      const char* how = ln.verdict.seq == s.last_seq ? " repeats" : " after seq ";
      std::string msg = at_offset(s.file, ln.offset) + "seq " + std::to_string(ln.verdict.seq) + how;
      if (ln.verdict.seq != s.last_seq) msg += std::to_string(s.last_seq);
      msg += " (the record before it is at offset " + std::to_string(s.last_offset) +
             "; seqs must increase within a file)";
      return Status::Corruption(std::move(msg));
    }
    s.last_seq = ln.verdict.seq;
    s.last_offset = ln.offset;
    *rec = ScannedRecord{ln.verdict.seq, ln.offset, ln.length, ln.verdict.foreign};
    *have = true;
    if (s.reporter) s.reporter->record(s.file, *rec);
    return Status::OK();
  }
}

std::uint64_t ChannelScanner::size() const noexcept { return impl_->buf_base + impl_->buf_len; }
std::uint64_t ChannelScanner::valid_end() const noexcept { return impl_->damaged ? impl_->damage_at : size(); }
const char* ChannelScanner::torn_what() const noexcept { return impl_->damaged ? impl_->damage_what : ""; }
File& ChannelScanner::file() const noexcept { return impl_->file; }


// ---------------------------------------------------------------------------
// One whole file

Result<ChannelScan> scan_channel(File& file, ScanReporter* reporter, std::size_t chunk_bytes) {
  ChannelScanner scanner(file, chunk_bytes, reporter);
  ChannelScan out;
  ScannedRecord rec;
  bool have = true;
  while (have) {
    RUNLOG_RETURN_IF_ERROR(scanner.next(&rec, &have));
    if (have) {
      ++out.records;
      if (rec.foreign) ++out.foreign;
    }
  }
  out.size = scanner.size();
  out.valid_end = scanner.valid_end();
  out.torn_what = scanner.torn_what();
  return out;
}

// ---------------------------------------------------------------------------
// The decision

Result<RecoveryPlan> decide(std::span<const ChannelScan> scans, std::span<const std::string> paths, std::uint64_t n,
                            std::uint64_t floor) {
  RecoveryPlan plan;
  plan.last_seq = n;
  plan.floor = floor;
  plan.channels.resize(scans.size());
  // Each file keeps what precedes its first record past N, or its torn tail.
  for (std::size_t i = 0; i < scans.size(); ++i) {
    const ChannelScan& sc = scans[i];
    ChannelCut& cut = plan.channels[i];
    cut.size = sc.size;
    cut.records = sc.records;
    cut.foreign = sc.foreign;
    if (sc.past) {
      cut.keep = sc.past_offset;
      cut.reason = CutReason::past_hole;
    } else {
      cut.keep = sc.valid_end;
      if (cut.keep < sc.size) {
        cut.reason = CutReason::torn_tail;
        cut.torn_what = sc.torn_what;
      }
    }
  }
  if (n >= floor) return plan;

  // The floor: every record 1..W was acknowledged; none may be cut. Where the
  // first missing record should have been: a damaged tail, else the record
  // that follows the hole, else the end of the first file.
  auto where_at = [&](std::size_t i, std::uint64_t offset) { return paths[i] + ":" + std::to_string(offset) + ": "; };
  std::string msg;
  std::size_t where = scans.size();
  for (std::size_t i = 0; i < scans.size(); ++i)
    if (plan.channels[i].reason == CutReason::torn_tail) {
      where = i;
      break;
    }
  if (where != scans.size()) {
    const ChannelCut& cut = plan.channels[where];
    msg = where_at(where, cut.keep) + cut.torn_what + ": damaged line (" + std::to_string(cut.size - cut.keep) +
          " bytes)";
  } else {
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < scans.size(); ++i)
      if (scans[i].past && scans[i].past_seq < next) {
        next = scans[i].past_seq;
        where = i;
      }
    if (where != scans.size()) {
      msg = where_at(where, plan.channels[where].keep) + "seq " + std::to_string(next) + " follows a hole";
    } else if (!scans.empty()) {
      msg = where_at(0, scans[0].size) + "the log ends";
    } else {
      msg = "the stream has no files";
    }
  }
  msg += ": seq " + std::to_string(n + 1) + " is missing, though seq " + std::to_string(floor) +
         " was acknowledged (durable.seq / state.json); corruption, nothing changed";
  return Status::Corruption(std::move(msg));
}

Result<RecoveryPlan> plan_single_file(File& file) {
  ChannelScan scan;
  RUNLOG_RETURN_IF_ERROR(scan_channel(file).get(scan));
  const std::string paths[] = {file.path()};
  const ChannelScan scans[] = {scan};
  // No floor and no gap-free prefix: every record is kept, only the tail cut.
  return decide(scans, paths, 0, 0);
}

}  // namespace runlog::io
