// io/verify_verdict.cpp — a stream's verdict: its segments joined, a damaged
// tail judged by the scanner, the seqs 1..N across its files, and the one
// decision (io/scanner.h decide()) on the floor W; then the per-run checks,
// and --repair when the stream is only torn.
#include "io/verify_internal.h"

#include <algorithm>
#include <cstring>

#include "core/lifecycle.h"

namespace runlog::io::verify_detail {

namespace {

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
  // The scanner tells what follows the start of the damage: a record after
  // it (or hidden in it, its '\n' damaged) makes it corruption.
  struct FirstRecord final : ScanReporter {
    bool seen = false;
    std::uint64_t at = 0;
    void record(const File&, const ScannedRecord& rec) override {
      if (!seen) at = rec.offset;
      seen = true;
    }
    void damage(const File&, const ScanDamage& d) override {
      if (d.followed && !seen) {
        seen = true;
        at = d.offset + d.length;
      }
    }
  } first;
  WindowFile w(file, offset);
  Result<ChannelScan> scan = scan_channel(w, &first);
  if (!scan.ok() && scan.status().code() != Errc::corruption) return scan.status().to_string();
  if (first.seen) {
    if (first.at == 0) return "a valid record hides in it or follows it (a damaged newline?)";
    return "a valid record at offset " + std::to_string(offset + first.at) + " follows it";
  }
  if (!scan.ok()) return "a valid record hides in it or follows it (a damaged newline?)";
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
  simdjson::dom::parser parser;  // lines of another implementation
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
      const LineVerdict v = check_record_line(std::string_view(buf.data() + pos, len), parser);
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


// A hole in the seqs: a..b missing; the record after it (if any).
struct Hole {
  std::uint64_t a, b;
  std::uint32_t file;
  std::uint64_t offset;
  bool has_next;
};

// Seqs 1..N across the files (1..limit for a live stream): the set hash says
// whether they are; when not, every seq is collected and sorted to say where,
// and each file's first record past N goes to scans[i] (the decision's
// input). Returns N, the end of the gap-free prefix.
std::uint64_t find_holes(StreamCheck& s, const std::vector<FileSummary>& sums, Findings& f, std::vector<Hole>* holes,
                         std::vector<ChannelScan>* scans) {
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
  const std::uint64_t N = holes->empty() ? M : holes->front().a - 1;
  for (const SeqAt& x : all) {
    ChannelScan& sc = (*scans)[x.file];
    if (x.seq > N && !sc.past) {
      sc.past = true;
      sc.past_seq = x.seq;
      sc.past_offset = x.offset;
    }
  }
  return N;
}

// The one decision (io/scanner.h decide()) on what this stream's scan found:
// for a stream that is not live, whether it is clean, torn (a damaged tail,
// records past a hole above W: recovery cuts them) or corrupt (N < W).
// scans[i] holds each file's first record past N (find_holes).
Result<RecoveryPlan> decide_stream(StreamCheck& s, const std::vector<FileSummary>& sums, std::uint64_t N,
                                   std::vector<ChannelScan>& scans) {
  std::vector<std::string> paths(s.files.size());
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    const FileSummary& fs = sums[i];
    ChannelScan& sc = scans[i];
    paths[i] = s.files[i].path;
    sc.size = fs.checked_end;
    sc.valid_end = fs.torn ? fs.damage.back().offset : fs.checked_end;
    sc.torn_what = fs.torn ? fs.damage.back().what : "";
    sc.records = fs.records;
    sc.foreign = fs.foreign;
  }
  return decide(scans, paths, N, std::max(s.durable.value_or(0), s.state ? s.state->lastEventSeq : 0));
}

// Damage and holes: corruption, or (not live) what recovery would cut.
void report_damage(StreamCheck& s, const std::vector<FileSummary>& sums, const std::vector<Hole>& holes,
                   std::uint64_t N, const Result<RecoveryPlan>& verdict, Findings& f) {
  // A stream that is not live goes by the one decision; a live one is
  // checked up to its writer's watermark, a single file has no floor.
  const bool decided = !s.live && s.job->type != StreamType::file;
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
        if (decided && !verdict.ok()) {
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
    if (decided && verdict.ok()) {
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

}  // namespace

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
  std::vector<ChannelScan> scans(s.files.size());
  const std::uint64_t N = find_holes(s, sums, f, &holes, &scans);
  Result<RecoveryPlan> verdict = RecoveryPlan{};
  if (!s.live && s.job->type != StreamType::file) verdict = decide_stream(s, sums, N, scans);
  report_damage(s, sums, holes, N, verdict, f);
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
  // Corruption the detailed checks did not name (N < W with no damage or hole to show for it).
  if (!verdict.ok() && !s.blocked) f.block(s.job->path, 0, verdict.status().message() + "; not repaired");
  // Cuts the decision plans that no line above named (records past a hole that damage explains).
  if (verdict.ok() && verdict->cuts_anything() && !s.repairable && !s.blocked) {
    for (std::size_t i = 0; i < s.files.size(); ++i) {
      const ChannelCut& c = verdict->channels[i];
      if (!s.files[i].present || c.keep >= c.size) continue;
      f.add(s.files[i].path, c.keep,
            "records past seq " + std::to_string(verdict->last_seq) + " follow a hole and were never acknowledged "
            "(durable up to seq " + std::to_string(verdict->floor) + "), " + std::string(kRepairHint) + " to cut them");
    }
    s.repairable = true;
  }

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


}  // namespace runlog::io::verify_detail
