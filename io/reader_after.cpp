// io/reader_after.cpp — see io/reader_after.h.
#include "io/reader_after.h"

#include <string_view>

namespace runlog::io::reader_detail {
namespace {

constexpr std::size_t kPad = simdjson::SIMDJSON_PADDING;
constexpr std::size_t kProbeBytes = 4096;         // bisection window
constexpr std::uint64_t kLinearBytes = 64 << 10;  // bisection ends with one read of this much

class Bisection {
 public:
  Bisection(File& file, simdjson::dom::parser& parser, std::string& probe)
      : file_(file), parser_(parser), probe_(probe) {}


  // Reads up to n bytes at off into probe; returns what was read.
  Status read_probe(std::uint64_t off, std::size_t n, std::string_view* out) {
    probe_.resize(n + kPad);
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(file_.pread(probe_.data(), n, off, &got));
    *out = std::string_view(probe_.data(), got);
    return Status::OK();
  }

  // The first line start >= off (size when none).
  Status line_start_at_or_after(std::uint64_t off, std::uint64_t size, std::uint64_t* out) {
    if (off == 0) {
      *out = 0;
      return Status::OK();
    }
    std::uint64_t at = off - 1;
    while (at < size) {
      std::string_view w;
      RUNLOG_RETURN_IF_ERROR(read_probe(at, kProbeBytes, &w));
      if (w.empty()) break;
      std::size_t k = w.find('\n');
      if (k != std::string_view::npos) {
        *out = at + k + 1;
        return Status::OK();
      }
      at += w.size();
    }
    *out = size;
    return Status::OK();
  }

  // The last line start in [lo, off] (lo is a line start).
  Status line_start_at_or_before(std::uint64_t lo, std::uint64_t off, std::uint64_t* out) {
    std::uint64_t end = off;  // look at bytes [lo, end) for the last '\n' before off
    while (end > lo) {
      std::uint64_t from = end > lo + kProbeBytes ? end - kProbeBytes : lo;
      std::string_view w;
      RUNLOG_RETURN_IF_ERROR(read_probe(from, static_cast<std::size_t>(end - from), &w));
      std::size_t k = w.rfind('\n');
      if (k != std::string_view::npos) {
        *out = from + k + 1;
        return Status::OK();
      }
      end = from;
    }
    *out = lo;
    return Status::OK();
  }

  // The seq of the line at `off`; *ok = false when it cannot be read.
  Status seq_at(std::uint64_t off, std::uint64_t size, std::uint64_t* seq, bool* ok) {
    *ok = false;
    std::string_view w;
    RUNLOG_RETURN_IF_ERROR(read_probe(off, kProbeBytes, &w));
    int d = 0;
    if (w.size() > 7 && w.substr(0, 7) == "{\"seq\":" && parse_seq_digits(w.data() + 7, w.size() - 7, seq, &d) &&
        static_cast<std::size_t>(7 + d) < w.size() && (w[7 + d] == ',' || w[7 + d] == '}')) {
      *ok = true;
      return Status::OK();
    }
    // A foreign line: its keys may come in any order. Read it whole and parse it.
    std::string line;
    std::uint64_t at = off;
    for (;;) {
      std::size_t k = w.find('\n');
      line.append(w.data(), k == std::string_view::npos ? w.size() : k);
      if (k != std::string_view::npos || w.empty()) break;
      at += w.size();
      if (at >= size) break;
      RUNLOG_RETURN_IF_ERROR(read_probe(at, 1 << 20, &w));
    }
    simdjson::dom::element el;
    if (!parser_.parse(line.data(), line.size(), true).get(el) && !el["seq"].get_uint64().get(*seq)) *ok = true;
    return Status::OK();
  }

  // The offset of the first line whose seq is > n (the file's size when
  // none): bisection over byte offsets; seqs increase within a file. Ends with
  // one read of at most kLinearBytes; never scans the file. When a probed
  // line cannot be read, answers the last offset known to be safe (the reader
  // then skips seqs <= n as it goes).
  Status seek_after(std::uint64_t n, std::uint64_t* out) {
    std::uint64_t size = 0;
    RUNLOG_RETURN_IF_ERROR(file_.size().get(size));
    std::uint64_t lo = 0, hi = size;  // the answer lies in [lo, hi]; lo is a line start
    bool ok = false;
    std::uint64_t seq = 0;
    while (hi - lo > kLinearBytes) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      std::uint64_t s = 0;
      RUNLOG_RETURN_IF_ERROR(line_start_at_or_after(mid, size, &s));
      if (s >= hi) {
        RUNLOG_RETURN_IF_ERROR(line_start_at_or_before(lo, mid, &s));
        if (s == lo) {  // lo is the only line starting in [lo, hi)
          RUNLOG_RETURN_IF_ERROR(seq_at(lo, size, &seq, &ok));
          *out = ok && seq <= n ? hi : lo;
          return Status::OK();
        }
      }
      RUNLOG_RETURN_IF_ERROR(seq_at(s, size, &seq, &ok));
      if (!ok) {
        *out = lo;
        return Status::OK();
      }
      if (seq > n) hi = s;
      else lo = s;
    }
    // Linear: the line starts in [lo, hi), from one read.
    std::string_view w;
    RUNLOG_RETURN_IF_ERROR(read_probe(lo, static_cast<std::size_t>(hi - lo), &w));
    std::string window(w);
    std::size_t p = 0;
    while (lo + p < hi) {
      int d = 0;
      const std::size_t avail = window.size() - p;
      if (avail > 8 && window.compare(p, 7, "{\"seq\":") == 0 &&
          parse_seq_digits(window.data() + p + 7, avail - 7, &seq, &d) && static_cast<std::size_t>(7 + d) < avail &&
          (window[p + 7 + d] == ',' || window[p + 7 + d] == '}')) {
        ok = true;
      } else {
        RUNLOG_RETURN_IF_ERROR(seq_at(lo + p, size, &seq, &ok));
      }
      if (!ok) {
        *out = lo + p;
        return Status::OK();
      }
      if (seq > n) {
        *out = lo + p;
        return Status::OK();
      }
      std::size_t k = window.find('\n', p);
      if (k == std::string::npos) break;
      p = k + 1;
    }
    *out = hi;
    return Status::OK();
  }

 private:
  File& file_;
  simdjson::dom::parser& parser_;
  std::string& probe_;
};

}  // namespace

Status seek_after(File& file, std::uint64_t n, simdjson::dom::parser& parser, std::string& probe, std::uint64_t* out) {
  return Bisection(file, parser, probe).seek_after(n, out);
}

}  // namespace runlog::io::reader_detail
