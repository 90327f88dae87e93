// io/verify_scan.cpp — one segment of one file: big preads split into
// lines, each judged by the record rule (check_record_line, io/scanner.h);
// valid lines counted into the set hash and batched for the content checks
// (one simdjson iterate_many per span), damaged ones gathered into regions.
#include "io/verify_internal.h"

#include <algorithm>
#include <cstring>

#include "core/lifecycle.h"
#include "core/utf8.h"

namespace runlog::io::verify_detail {


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

}  // namespace runlog::io::verify_detail
