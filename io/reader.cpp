// io/reader.cpp — LogReader: buffered reads, the k-way merge by seq, the
// durable cap, damage under the floor rule and live detection. Lines are
// taken apart by io/reader_line.h, sources found by reader_sources.cpp, and
// `after` found by reader_after.h. See io/reader.h for the contract and
// docs/reading.md for the design.
#include "io/reader.h"

#include "io/journal.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif
#include <utility>

#include "core/crc32c.h"
#include "core/utf8.h"
#include "io/reader_after.h"
#include "io/reader_line.h"
#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::io {

using namespace reader_detail;  // taking a line apart: io/reader_line.h; `after`: io/reader_after.h

std::string_view field_name(Field f) noexcept { return kFieldNames[F(f)]; }

void Entry::resolve() const noexcept {
  lazy_ = false;
  const char* p = line_.data();
  const std::size_t n = line_.size();
  const std::size_t crc_pos = n - kCrcTail;
  bool has_bytes = false;
  const std::size_t text_end = own_text_end(p, n, text_start_, &has_bytes);
  raw_[F(Field::text)] = std::string_view(p + text_start_, text_end - text_start_);
  present_ |= 1u << F(Field::text);
  if (has_bytes) {
    raw_[F(Field::bytes)] = std::string_view(p + text_end + 9, crc_pos - text_end - 9);
    present_ |= 1u << F(Field::bytes);
  }
  body_ = std::string_view(p + 1, text_end - 1);
}

std::string_view Entry::created_at() const noexcept {
  std::string_view t = raw(Field::createdAt);
  if (t.size() < 2) return {};
  return t.substr(1, t.size() - 2);
}

// ---------------------------------------------------------------------------
// LogReader

namespace {

// One channel file being read.
struct Cursor {
  std::string name;  // file name
  std::string path;  // for messages
  std::unique_ptr<File> file;
  int fixed = -1;  // the channel the file name says, or -1
  bool chunks = false;  // a conversation's chunks.jsonl: StoredChunk lines (decode_chunk_line)

  std::unique_ptr<char[]> buf;
  std::size_t cap = 0;     // bytes usable (kPad more are allocated)
  std::size_t len = 0;     // bytes held
  std::uint64_t base = 0;  // file offset of buf[0]
  std::size_t parsed = 0;  // bytes of buf turned into recs
  std::size_t want = 0;    // next read size

  std::vector<Rec> recs;
  std::size_t pos = 0;
  std::vector<Span> side;

  std::uint64_t last_seq = 0;  // of the last record indexed (seqs increase in a file)
  std::uint64_t consumed = 0;  // file offset after the last record served
  std::uint64_t consumed_seq = 0;
  bool eof = false;   // the last read reached the end of the file
  bool done = false;  // a torn tail ends it
  std::uint64_t torn_at = UINT64_MAX;  // file offset of the torn tail that ended it
  Status error;       // corruption, served when the merge gets there

  bool exhausted() const { return pos == recs.size(); }
};

}  // namespace

struct LogReader::Impl {
  ReaderOptions opt;
  std::shared_ptr<Fs> fs;
  od::parser parser;
  simdjson::dom::parser aux_parser;  // the slow paths (bisection of foreign lines, torn-tail checks)
  std::size_t batch = 0;

  Source source;
  std::unique_ptr<Dir> dir;
  std::unique_ptr<File> durable;
  RunContext ctx;
  ReadFilter filter;
  std::vector<Cursor> cur;
  bool gap_rule = false;
  std::uint64_t expected = 1;
  std::uint64_t last_served = 0;
  std::uint64_t emitted = 0;
  bool hole = false;
  bool limit_hit = false;
  std::uint64_t state_floor = 0;  // state.json's lastEventSeq
  std::uint64_t open_floor = 0;   // W when the stream was opened
  Cursor* run_cursor = nullptr;  // next()'s fast path: this channel, while its seqs stay below run_limit
  std::uint64_t run_limit = 0;
  bool became_live = false;
  bool opened = false;
  Status sticky;
  Entry entry;
  std::vector<std::string> notes;
  std::string probe;  // bisection scratch
  struct PendingCrc {
    std::size_t rec;  // index in the cursor's recs
    std::size_t off;  // line start in the buffer
    std::size_t len;  // line length
  };
  std::vector<PendingCrc> pending;  // own lines whose crc parse_range checks

  explicit Impl(ReaderOptions o) : opt(std::move(o)) {
    fs = opt.fs ? opt.fs : posix_fs();
    opt.first_read_bytes = std::max<std::size_t>(opt.first_read_bytes, 4096);
    opt.max_read_bytes = std::max(opt.max_read_bytes, opt.first_read_bytes);
    opt.batch_bytes = std::max<std::size_t>(opt.batch_bytes, 4096);
    batch = opt.batch_bytes;
    parser.threaded = opt.simdjson_threads;
  }

  Status fail(Status st) {
    sticky = st;
    return st;
  }

  void note(std::string s) {
    if (std::find(notes.begin(), notes.end(), s) == notes.end()) notes.push_back(std::move(s));
  }

  // ----- context

  static std::string trimmed(std::string s) {
    while (!s.empty() && is_ws(s.back())) s.pop_back();
    return s;
  }

  Status read_json_object(const char* name, std::string* raw, simdjson::dom::element* el) {
    Result<std::string> text = read_file(*dir, name);
    if (!text.ok()) return text.status();
    *raw = trimmed(std::move(text).value());
    if (aux_parser.parse(raw->data(), raw->size(), true).get(*el) || !el->is_object())
      return Status::Corruption(fmt::format("{}/{}: not a JSON object", source.dir, name));
    return Status::OK();
  }

  Status load_meta() {
    ctx.meta_json.clear();
    ctx.task_id.clear();
    ctx.step_id.clear();
    ctx.run_id.clear();
    simdjson::dom::element el;
    Status st = read_json_object(kMetaFile, &ctx.meta_json, &el);
    if (st.code() == Errc::not_found) {
      ctx.jsonl_prefix = "{";
      return Status::OK();
    }
    RUNLOG_RETURN_IF_ERROR(st);
    auto take = [&](const char* key, std::string* out) {
      std::string_view v;
      if (!el[key].get_string().get(v)) append_json_string(out, v);
    };
    take("taskId", &ctx.task_id);
    take("stepId", &ctx.step_id);
    take("runId", &ctx.run_id);
    ctx.jsonl_prefix = "{";
    auto add = [&](const char* key, const std::string& tok) {
      if (tok.empty()) return;
      ctx.jsonl_prefix += fmt::format("\"{}\":{},", key, tok);
    };
    add("taskId", ctx.task_id);
    add("stepId", ctx.step_id);
    add("runId", ctx.run_id);
    return Status::OK();
  }

  Status load_state() {
    ctx.state_json.clear();
    ctx.status.reset();
    simdjson::dom::element el;
    Status st = read_json_object(kStateFile, &ctx.state_json, &el);
    if (st.code() == Errc::not_found) return Status::OK();
    RUNLOG_RETURN_IF_ERROR(st);
    std::string_view s;
    if (!el["status"].get_string().get(s)) ctx.status = parse_status(s);
    std::uint64_t last = 0;
    if (!el["lastEventSeq"].get_uint64().get(last)) state_floor = last;
    return Status::OK();
  }

  // SPEC "Recovery": the records 1..W (W = max(durable.seq, lastEventSeq) as
  // read at open) were acknowledged; a run of runlog's that ends, or stops at a
  // hole, below W has lost one of them: corruption, as recovery says.
  Status check_floor(std::uint64_t last) {
    if (!gap_rule || ctx.live) return Status::OK();
    const std::uint64_t w = std::max(open_floor, filter.after);
    if (last >= w) return Status::OK();
    std::string where = source.dir;
    for (const Cursor& c : cur)
      if (c.torn_at != UINT64_MAX) {
        where = fmt::format("{}:{}: damaged tail", c.path, c.torn_at);
        break;
      }
    return fail(Status::Corruption(fmt::format("{}: seq {} is missing, though seq {} was acknowledged (durable.seq / "
                                               "state.json)",
                                               where, last + 1, open_floor)));
  }

  // Opens durable.seq (when it exists and is not open yet), asks whether a
  // writer holds its lock, and reads its value (two equal reads in a row: it
  // is rewritten in place).
  Status load_durable() {
    if (!durable) {
      Result<std::unique_ptr<File>> f = dir->open_file(kDurableFile, OpenMode::read_only, 0);
      if (!f.ok()) {
        if (f.status().code() == Errc::not_found) {
          ctx.has_durable_file = false;
          ctx.live = false;
          ctx.durable_seq = 0;
          return Status::OK();
        }
        return f.status();
      }
      durable = std::move(f).value();
    }
    ctx.has_durable_file = true;
    // Two equal reads in a row (read_durable_mark: the one reader of the file
    // and its lock): it is rewritten in place, one digit at a time.
    for (int attempt = 0;; ++attempt) {
      DurableMark a, b;
      RUNLOG_RETURN_IF_ERROR(read_durable_mark(*durable).get(a));
      RUNLOG_RETURN_IF_ERROR(read_durable_mark(*durable).get(b));
      ctx.live = a.live;
      if (a.text == b.text && a.seq) {
        ctx.durable_seq = *a.seq;
        return Status::OK();
      }
      if (attempt >= 100) {
        if (!ctx.live) {  // a crashed writer may leave it odd: not needed when not live
          ctx.durable_seq = 0;
          return Status::OK();
        }
        return Status::Corruption(fmt::format("{}/{}: not 20 digits and a newline", source.dir, kDurableFile));
      }
    }
  }

  // Rechecks the lock when the run was not live; true when it is live now.
  bool check_became_live() {
    if (ctx.live || !durable) return false;
    Result<bool> live = durable->locked_by_other();
    return live.ok() && live.value();
  }

  // ----- cursors

  Status open_cursor(Cursor& c) {
    if (c.file) return Status::OK();
    Result<std::unique_ptr<File>> f = dir->open_file(c.name, OpenMode::read_only, 0);
    if (!f.ok()) {
      if (f.status().code() == Errc::not_found && source.kind == SourceKind::run) return Status::OK();
      return f.status();
    }
    c.file = std::move(f).value();
    return Status::OK();
  }

  void reset_cursor(Cursor& c) {
    run_cursor = nullptr;
    c.base = c.consumed;
    c.len = 0;
    c.parsed = 0;
    c.want = opt.first_read_bytes;
    c.recs.clear();
    c.side.clear();
    c.pos = 0;
    c.last_seq = c.consumed_seq;
    c.eof = false;
    c.done = false;
    c.torn_at = UINT64_MAX;
    c.error = Status::OK();
  }

  void ensure_capacity(Cursor& c, std::size_t need) {
    if (need <= c.cap) return;
    std::size_t cap = std::max(need, c.cap * 2);
    std::unique_ptr<char[]> nb(new char[cap + kPad]);
    if (c.len) std::memcpy(nb.get(), c.buf.get(), c.len);
    c.buf = std::move(nb);
    c.cap = cap;
  }

  void compact(Cursor& c) {
    if (c.parsed == 0) return;
    std::memmove(c.buf.get(), c.buf.get() + c.parsed, c.len - c.parsed);
    c.base += c.parsed;
    c.len -= c.parsed;
    c.parsed = 0;
  }

  // Indexes one decoded line (decoded into c.recs.back()); corruption when
  // its seq does not increase (the record is then dropped).
  bool add_record(Cursor& c, std::size_t p, std::size_t n, const Span* spans, bool newline) {
    Rec& r = c.recs.back();
    if (r.seq <= c.last_seq) [[unlikely]] {
      c.error = Status::Corruption(fmt::format("{}:{}: seq {} is not above the previous line's seq {}", c.path,
                                               c.base + p, r.seq, c.last_seq));
      c.parsed = p;
      c.recs.pop_back();
      return false;
    }
    c.last_seq = r.seq;
    r.off = static_cast<std::uint32_t>(p);
    r.len = static_cast<std::uint32_t>(n);
    if (!newline) r.flags |= kNoNewline;
    if (r.kind == kSpans) {
      r.aux = static_cast<std::uint32_t>(c.side.size() / kFieldCount);
      c.side.insert(c.side.end(), spans, spans + kFieldCount);
    }
    return true;
  }

  // A slot for the next record, reused memory.
  Rec& new_record(Cursor& c) {
    if (c.recs.size() == c.recs.capacity()) c.recs.reserve(std::max<std::size_t>(4096, c.recs.size() * 2));
    return c.recs.emplace_back();
  }

  // Whether a valid record follows the bad line at file offset `off` (or
  // hides inside it after its first byte: a flipped '\n' merges two lines).
  Status valid_record_after(Cursor& c, std::uint64_t off, bool* found) {
    *found = false;
    std::string seg;
    std::vector<char> chunk(1 << 20);
    bool first = true;
    std::uint64_t at = off;
    for (;;) {
      std::size_t got = 0;
      RUNLOG_RETURN_IF_ERROR(c.file->pread(chunk.data(), chunk.size(), at, &got));
      if (got == 0) return Status::OK();
      at += got;
      std::size_t i = 0;
      while (i < got) {
        const char* nl = static_cast<const char*>(std::memchr(chunk.data() + i, '\n', got - i));
        std::size_t take = nl ? static_cast<std::size_t>(nl - chunk.data()) + 1 - i : got - i;
        seg.append(chunk.data() + i, take);
        i += take;
        if (!nl) break;
        if (first) {
          for (std::size_t k = seg.find("{\"seq\":", 1); k != std::string::npos; k = seg.find("{\"seq\":", k + 1)) {
            if (check_line(std::string_view(seg).substr(k)).valid) {
              *found = true;
              return Status::OK();
            }
          }
          first = false;
        } else if (line_is_record(seg, aux_parser)) {
          *found = true;
          return Status::OK();
        }
        seg.clear();
      }
    }
  }

  // A line that is not a record at buf[p]: a torn tail when nothing valid
  // follows it, corruption otherwise.
  Status bad_line(Cursor& c, std::size_t p, const std::string& what) {
    const std::uint64_t off = c.base + p;
    c.parsed = p;
    // A whole record (a crc that matches, or a foreign JSON object with a
    // seq) that is not an entry of this file is no crash's doing.
    const char* b = c.buf.get();
    const char* nl = static_cast<const char*>(std::memchr(b + p, '\n', c.len - p));
    bool later = nl != nullptr && line_is_record(std::string_view(b + p, static_cast<std::size_t>(nl - b) - p + 1), aux_parser);
    if (!later) RUNLOG_RETURN_IF_ERROR(valid_record_after(c, off, &later));
    if (later) {
      c.error = Status::Corruption(fmt::format("{}:{}: {}", c.path, off, what));
      return Status::OK();
    }
    std::uint64_t size = off;
    (void)c.file->size().get(size);
    c.done = true;
    c.torn_at = off;
    note(fmt::format("{}: ignored a torn tail of {} bytes at offset {} ({})", c.path, size - off, off, what));
    return Status::OK();
  }

  // Lines of buf[from, end) one at a time (after iterate_many reported an
  // error somewhere in a batch): finds the first bad line.
  Status parse_lines_one_by_one(Cursor& c, std::size_t from, std::size_t end) {
    char* b = c.buf.get();
    Span spans[kFieldCount];
    std::size_t p = from;
    for (;;) {
      p = skip_ws(b, p, end);
      if (p >= end) break;
      const char* nl = static_cast<const char*>(std::memchr(b + p, '\n', end - p));
      const std::size_t n = nl ? static_cast<std::size_t>(nl - (b + p)) : end - p;
      od::document doc;
      auto err = parser.iterate(b + p, n, c.cap + kPad - p).get(doc);
      if (err) return bad_line(c, p, fmt::format("not JSON ({})", simdjson::error_message(err)));
      Rec& r = new_record(c);
      Bad bad = c.chunks ? decode_chunk_line(b + p, n, opt.check_crc, &r)
                         : decode_line(doc, b + p, n, c.fixed, opt.check_crc, &r, spans);
      if (!bad && r.kind == kSpans && !at_doc_end(doc)) bad = Bad{"has more after its JSON object"};
      if (bad) {
        c.recs.pop_back();
        return bad_line(c, p, "the line " + describe(bad));
      }
      if (!add_record(c, p, n, spans, nl != nullptr)) return Status::OK();
      p += n + (nl ? 1 : 0);
    }
    c.parsed = end;
    return Status::OK();
  }

  // Indexes the complete lines of buf[from, end) (end just after a '\n'),
  // then checks the crcs of the own lines among them, three at a time; a
  // line whose crc does not match undoes everything indexed from it on.
  Status parse_range(Cursor& c, std::size_t from, std::size_t end) {
    pending.clear();
    const std::size_t notes_before = notes.size();
    const std::uint64_t seq_before = c.recs.empty() ? c.last_seq : 0;
    const std::size_t recs_before = c.recs.size();
    RUNLOG_RETURN_IF_ERROR(parse_range_inner(c, from, end));
    if (pending.empty()) return Status::OK();
    const char* b = c.buf.get();
    std::size_t bad = pending.size();
    std::size_t i = 0;
#if defined(__x86_64__)
    if (crc32c_is_hardware()) {
      for (; i + 3 <= pending.size() && bad == pending.size(); i += 3) {
        const char* p[3];
        std::size_t n[3];
        std::uint32_t crc[3];
        for (int k = 0; k < 3; ++k) {
          p[k] = b + pending[i + k].off;
          n[k] = pending[i + k].len - kCrcTail;
        }
        crc32c_x3(p, n, crc);
        for (int k = 0; k < 3 && bad == pending.size(); ++k) {
          char hex[8];
          crc32c_hex(crc[k], hex);
          if (std::memcmp(hex, p[k] + n[k] + 8, 8) != 0) bad = i + k;
        }
      }
    }
#endif
    for (; i < pending.size() && bad == pending.size(); ++i) {
      const char* p = b + pending[i].off;
      const std::size_t n = pending[i].len - kCrcTail;
      char hex[8];
      crc32c_hex(crc32c(p, n), hex);
      if (std::memcmp(hex, p + n + 8, 8) != 0) bad = i;
    }
    if (bad == pending.size()) return Status::OK();
    // Undo from the bad line on (what was found past it no longer counts).
    const std::size_t idx = pending[bad].rec;
    for (std::size_t k = idx; k < c.recs.size(); ++k) {
      if (c.recs[k].kind == kSpans) {
        c.side.resize(static_cast<std::size_t>(c.recs[k].aux) * kFieldCount);
        break;
      }
    }
    c.recs.resize(idx);
    c.last_seq = idx > recs_before ? c.recs[idx - 1].seq : (recs_before ? c.recs[recs_before - 1].seq : seq_before);
    c.error = Status::OK();
    c.done = false;
    notes.resize(notes_before);
    return bad_line(c, pending[bad].off, std::string("the line ") + kBadCrc);
  }

  Status parse_range_inner(Cursor& c, std::size_t from, std::size_t end) {
    char* b = c.buf.get();
    Span spans[kFieldCount];
    std::size_t at = from;
    for (;;) {
      enum { kOk, kGrow, kOneByOne, kBad } outcome = kOk;
      std::size_t next = at;
      std::size_t prev = SIZE_MAX;     // the start of the line indexed last
      std::uint64_t prev_seq = 0;      // last_seq before it
      Bad bad;
      {
        od::document_stream ds;
        if (parser.iterate_many(b + at, end - at, batch).get(ds)) {
          outcome = kOneByOne;
        } else {
          for (auto it = ds.begin(); it != ds.end(); ++it) {
            auto dref = *it;
            const std::size_t p = skip_ws(b, next, end);
            if (auto e = dref.error()) {
              next = p;
              outcome = e == simdjson::CAPACITY ? kGrow : kOneByOne;
              break;
            }
            if (const std::size_t q = skip_ws(b, at + it.current_index(), end); q != p) {
              // A second value on the line just indexed (q < p), or bytes no
              // value claims (q > p): either way that line is bad.
              if (q < p && !c.recs.empty() && c.recs.back().off == prev) {
                if (c.recs.back().kind == kSpans) c.side.resize(static_cast<std::size_t>(c.recs.back().aux) * kFieldCount);
                c.recs.pop_back();
                c.last_seq = prev_seq;
                next = prev;
              } else {
                next = p;
              }
              bad = Bad{"is not one JSON object per line"};
              outcome = kBad;
              break;
            }
            const char* nl = static_cast<const char*>(std::memchr(b + p, '\n', end - p));
            const std::size_t n = static_cast<std::size_t>(nl - (b + p));
            Rec& r = new_record(c);
            bool deferred = false;
            bad = c.chunks ? decode_chunk_line(b + p, n, opt.check_crc, &r, &deferred)
                           : decode_line(dref, b + p, n, c.fixed, opt.check_crc, &r, spans, &deferred);
            if (bad) {
              c.recs.pop_back();
              if (deferred) {  // damage in an own line: its crc says it best
                char hex[8];
                crc32c_hex(crc32c(b + p, n - kCrcTail), hex);
                if (std::memcmp(hex, b + p + n - 10, 8) != 0) bad = Bad{kBadCrc};
              }
              next = p;
              outcome = kBad;
              break;
            }
            prev = p;
            prev_seq = c.last_seq;
            if (!add_record(c, p, n, spans, true)) return Status::OK();
            if (deferred) pending.push_back({c.recs.size() - 1, p, n});
            next = p + n + 1;
          }
          // An incomplete last document (truncated_bytes), or bytes no
          // document claimed: find out, line by line, what is wrong there.
          if (outcome == kOk && (ds.truncated_bytes() != 0 || skip_ws(b, next, end) < end)) {
            next = skip_ws(b, next, end);
            outcome = next < end ? kOneByOne : kOk;
          }
        }
      }
      switch (outcome) {
        case kOk:
          c.parsed = end;
          return Status::OK();
        case kBad:
          return bad_line(c, next, "the line " + describe(bad));
        case kOneByOne:
          return parse_lines_one_by_one(c, next, end);
        case kGrow: {
          const char* nl = static_cast<const char*>(std::memchr(b + next, '\n', end - next));
          const std::size_t line = static_cast<std::size_t>(nl - (b + next)) + 1;
          if (line >= batch) {
            batch = std::max(batch * 2, line + 4096);
          } else {
            return parse_lines_one_by_one(c, next, end);  // not a size problem after all
          }
          at = next;
          continue;
        }
      }
    }
  }

  // The bytes at the end of a file that is not being written, without a
  // final '\n': a foreign line that is whole is a record; anything else is a
  // torn tail.
  Status handle_tail(Cursor& c) {
    std::size_t p = skip_ws(c.buf.get(), 0, c.len);
    if (p >= c.len) {
      c.parsed = c.len;
      return Status::OK();
    }
    const char* b = c.buf.get();
    const std::size_t n = c.len - p;
    const bool own_looking = n >= kCrcTail && std::memcmp(b + c.len - kCrcTail, ",\"crc\":\"", 8) == 0;
    if (!own_looking && !c.chunks) {  // (a StoredChunk line is always runlog's own: it ends with '\n')
      Span spans[kFieldCount];
      od::document doc;
      Rec& r = new_record(c);
      if (!parser.iterate(b + p, n, c.cap + kPad - p).get(doc) &&
          !decode_line(doc, b + p, n, c.fixed, opt.check_crc, &r, spans) && r.kind == kSpans && at_doc_end(doc)) {
        if (add_record(c, p, n, spans, false)) c.parsed = c.len;
        c.done = true;
        return Status::OK();
      }
      c.recs.pop_back();
    }
    c.done = true;
    c.parsed = p;
    c.torn_at = c.base + p;
    note(fmt::format("{}: ignored a torn tail of {} bytes at offset {} (no final newline)", c.path, n, c.base + p));
    return Status::OK();
  }

  // Reads and indexes the next lines of a cursor whose records are all served.
  Status refill(Cursor& c) {
    c.recs.clear();
    c.side.clear();
    c.pos = 0;
    if (!c.file) {
      c.eof = true;
      return Status::OK();
    }
    compact(c);
    if (c.want == 0) c.want = opt.first_read_bytes;
    for (;;) {
      const std::size_t want = c.want;
      ensure_capacity(c, c.len + want);
      std::size_t got = 0;
      RUNLOG_RETURN_IF_ERROR(c.file->pread(c.buf.get() + c.len, want, c.base + c.len, &got));
      c.len += got;
      std::memset(c.buf.get() + c.len, 0, kPad);
      if (got < want) c.eof = true;
      if (check_became_live()) {
        became_live = true;
        return Status::OK();
      }
      c.want = std::min(want * 2, opt.max_read_bytes);
      const char* b = c.buf.get();
      const char* nl = c.len ? static_cast<const char*>(memrchr(b, '\n', c.len)) : nullptr;
      if (nl) {
        const std::size_t end = static_cast<std::size_t>(nl - b) + 1;
        if (end > kMaxLine) return Status::Corruption(fmt::format("{}:{}: a line longer than 4 GiB", c.path, c.base));
        RUNLOG_RETURN_IF_ERROR(parse_range(c, 0, end));
        if (!c.recs.empty() || c.done || !c.error.ok()) return Status::OK();
        compact(c);  // only blank lines
        if (!c.eof) continue;
      } else if (!c.eof) {
        if (c.len > kMaxLine) return Status::Corruption(fmt::format("{}:{}: a line longer than 4 GiB", c.path, c.base));
        c.want = std::max(c.want, c.len);  // a line longer than the buffer: grow it
        continue;
      }
      // At the end of the file with no complete line left.
      if (c.len > 0 && !ctx.live) return handle_tail(c);
      return Status::OK();
    }
  }

  // ----- bisection: io/reader_after.cpp

  // ----- the merge

  bool passes(const Cursor& c, const Rec& r) const {
    if (r.kind == kChunk) return r.seq > filter.after;  // a conversation: --after and --limit only
    if (!(filter.channels & (1u << r.channel))) return false;
    if (r.seq <= filter.after) return false;
    const char* line = c.buf.get() + r.off;
    if (filter.types || filter.levels) {
      if (r.channel != 0 || r.kind != kSpans) return false;
      const Span* sp = &c.side[static_cast<std::size_t>(r.aux) * kFieldCount];
      if (filter.types) {
        const Span s = sp[F(Field::type)];
        std::optional<EventType> t = parse_event_type(std::string_view(line + s.off + 1, s.len - 2));
        if (!t || !(filter.types & (1u << static_cast<int>(*t)))) return false;
      }
      if (filter.levels) {
        const Span s = sp[F(Field::level)];
        std::optional<LogLevel> l = parse_level(std::string_view(line + s.off + 1, s.len - 2));
        if (!l || !(filter.levels & (1u << static_cast<int>(*l)))) return false;
      }
    }
    if (!filter.since.empty() || !filter.until.empty()) {
      std::string_view created;
      if (r.kind == kOwnStream) {
        created = std::string_view(line + 7 + r.digits + 33, 24);
      } else {
        const Span s = c.side[static_cast<std::size_t>(r.aux) * kFieldCount + F(Field::createdAt)];
        created = std::string_view(line + s.off + 1, s.len - 2);
      }
      if (!filter.since.empty() && created < filter.since) return false;
      if (!filter.until.empty() && created > filter.until) return false;
    }
    return true;
  }

  void fill_entry(const Cursor& c, const Rec& r) {
    Entry& e = entry;
    const char* p = c.buf.get() + r.off;
    const std::size_t n = r.len;
    e.seq_ = r.seq;
    e.offset_ = c.base + r.off;
    e.channel_ = static_cast<Channel>(r.channel);
    e.line_ = std::string_view(p, n);
    e.newline_ = (r.flags & kNoNewline) == 0;
    e.path_ = &c.path;
    e.chunk_kind_ = false;
    if (r.kind == kChunk) {
      const std::size_t d = r.digits;
      e.raw_[F(Field::seq)] = std::string_view(p + 7, d);
      e.raw_[F(Field::crc)] = std::string_view(p + n - 10 - 1, 10);
      e.present_ = 1u << F(Field::seq) | 1u << F(Field::crc);
      e.own_ = true;
      e.lazy_ = false;
      e.body_ = {};
      e.chunk_kind_ = true;
      e.role_ = std::string_view(p + 7 + d + 9, r.aux - 10 - (7 + d + 9));
      e.chunk_ = std::string_view(p + r.aux, n - kCrcTail - r.aux);
      return;
    }
    if (r.kind == kOwnStream) {
      const std::size_t d = r.digits;
      const std::size_t created = 7 + d + 33;
      e.raw_[F(Field::seq)] = std::string_view(p + 7, d);
      e.raw_[F(Field::channel)] = std::string_view(p + 7 + d + 11, 8);
      e.raw_[F(Field::createdAt)] = std::string_view(p + created - 1, 26);
      e.raw_[F(Field::crc)] = std::string_view(p + n - 10 - 1, 10);
      e.present_ = 1u << F(Field::seq) | 1u << F(Field::channel) | 1u << F(Field::createdAt) | 1u << F(Field::crc);
      e.own_ = true;
      e.lazy_ = true;
      e.text_start_ = r.aux;
      return;
    }
    const Span* sp = &c.side[static_cast<std::size_t>(r.aux) * kFieldCount];
    std::uint32_t present = 0;
    for (int i = 0; i < kFieldCount; ++i) {
      if (sp[i].len) {
        e.raw_[i] = std::string_view(p + sp[i].off, sp[i].len);
        present |= 1u << i;
      }
    }
    e.present_ = present;
    e.lazy_ = false;
    e.own_ = (r.flags & kCanonical) != 0;
    e.body_ = {};
    if (e.own_) {
      const Span last = sp[r.channel == 0 ? F(Field::renderedLine) : F(Field::text)];
      e.body_ = std::string_view(p + 1, last.off + last.len - 1);
    }
  }

  void switch_to_live() {
    became_live = false;
    ctx.live = true;
    (void)load_durable();
    for (Cursor& c : cur) reset_cursor(c);
  }

  Status next(const Entry** out) {
    *out = nullptr;
    if (!opened) return Status::Invalid("LogReader::next before open");
    if (!sticky.ok()) return sticky;
    if (limit_hit || hole) return Status::OK();
    for (;;) {
      // Fast path: the channel that gave the last record goes on while its
      // seqs stay below every other channel's next one (long runs of stdout).
      if (run_cursor != nullptr && !run_cursor->exhausted()) {
        Cursor& c = *run_cursor;
        const Rec& r = c.recs[c.pos];
        if (r.seq < run_limit && (!gap_rule || r.seq == expected || r.seq <= filter.after) &&
            (!ctx.live || r.seq <= ctx.durable_seq)) {
          ++c.pos;
          c.consumed = c.base + r.off + r.len + ((r.flags & kNoNewline) ? 0 : 1);
          c.consumed_seq = r.seq;
          if (r.seq > filter.after) expected = r.seq + 1;
          if (!passes(c, r)) continue;
          last_served = r.seq;
          fill_entry(c, r);
          if (filter.limit && ++emitted >= filter.limit) limit_hit = true;
          *out = &entry;
          return Status::OK();
        }
      }
      run_cursor = nullptr;
      int best = -1;
      std::uint64_t best_seq = UINT64_MAX, second_seq = UINT64_MAX;
      bool restart = false;
      const Status* damaged = nullptr;  // a channel stopped by damage
      for (std::size_t i = 0; i < cur.size(); ++i) {
        Cursor& c = cur[i];
        if (c.exhausted()) {
          if (!c.error.ok()) {
            damaged = &c.error;
            continue;
          }
          if (c.done) continue;
          // At the end of the file: more may come while the run is live; a
          // partial last line left by a finished writer is looked at once.
          if (c.eof && (c.parsed == c.len || ctx.live)) continue;
          Status st = refill(c);
          if (!st.ok()) return fail(st);
          if (became_live) {
            switch_to_live();
            restart = true;
            break;
          }
          if (c.exhausted()) {
            if (!c.error.ok()) damaged = &c.error;
            continue;
          }
        }
        const std::uint64_t s = c.recs[c.pos].seq;
        if (s < best_seq) {
          second_seq = best_seq;
          best_seq = s;
          best = static_cast<int>(i);
        } else if (s < second_seq) {
          second_seq = s;
        }
      }
      if (restart) continue;
      // The damaged channel might hold the next seq, unless another one does.
      if (damaged && (!gap_rule || best < 0 || best_seq != expected || best_seq <= filter.after)) return fail(*damaged);
      if (best < 0) return check_floor(expected - 1);
      if (ctx.live && best_seq > ctx.durable_seq) return Status::OK();
      Cursor& c = cur[static_cast<std::size_t>(best)];
      const Rec& r = c.recs[c.pos];
      if (gap_rule && best_seq > filter.after && best_seq != expected) {
        if (best_seq < expected) {
          return fail(Status::Corruption(fmt::format("{}:{}: seq {} appears twice in this run", c.path,
                                                     c.base + r.off, best_seq)));
        }
        if (ctx.live) {
          return fail(Status::Corruption(fmt::format(
              "{}: seq {} is in no channel file, yet durable.seq says {}", source.dir, expected, ctx.durable_seq)));
        }
        for (Cursor& other : cur) {  // damage found ahead explains the hole better
          if (!other.error.ok()) return fail(other.error);
        }
        RUNLOG_RETURN_IF_ERROR(check_floor(expected - 1));
        hole = true;
        note(fmt::format("{}: stopped after seq {}: seq {} is missing (what lies past a hole was never acknowledged)",
                         source.dir, expected - 1, expected));
        return Status::OK();
      }
      ++c.pos;
      c.consumed = c.base + r.off + r.len + ((r.flags & kNoNewline) ? 0 : 1);
      c.consumed_seq = r.seq;
      if (best_seq > filter.after) expected = best_seq + 1;
      if (damaged == nullptr) {  // with damage about, every record takes the full look
        run_cursor = &c;
        run_limit = second_seq;
      }
      if (!passes(c, r)) continue;
      last_served = best_seq;
      fill_entry(c, r);
      if (filter.limit && ++emitted >= filter.limit) limit_hit = true;
      *out = &entry;
      return Status::OK();
    }
  }

  Status open(const Source& src, const ReadFilter& f) {
    opened = false;
    run_cursor = nullptr;
    source = src;
    filter = f;
    dir.reset();
    durable.reset();
    ctx = RunContext{};
    notes.clear();
    sticky = Status::OK();
    hole = limit_hit = became_live = false;
    emitted = 0;
    last_served = 0;
    expected = f.after + 1;
    // Runs and conversations are numbered 1..N by their writer: the gap rule
    // and the floor hold (a single file may be any slice of a stream).
    gap_rule = src.kind != SourceKind::file;

    // A journal of a writer that stopped holds acknowledged bytes that its
    // files may lack (a power loss): finished before anything is read.
    if (src.kind != SourceKind::conversation) RUNLOG_RETURN_IF_ERROR(finish_journals_above(*fs, src.dir));
    Result<std::unique_ptr<Dir>> d = fs->open_root(src.dir, false, 0);
    if (!d.ok()) return d.status();
    dir = std::move(d).value();
    state_floor = 0;
    RUNLOG_RETURN_IF_ERROR(load_durable());
    RUNLOG_RETURN_IF_ERROR(load_meta());
    RUNLOG_RETURN_IF_ERROR(load_state());
    open_floor = std::max(ctx.has_durable_file ? ctx.durable_seq : 0, state_floor);
    if (src.kind == SourceKind::conversation) {
      // Recovery's floor W, read as recovery reads it (io/recovery.h).
      RUNLOG_RETURN_IF_ERROR(read_floor(*dir, durable.get()).get(open_floor));
    }

    const std::size_t ncur = src.kind == SourceKind::run ? kRunChannels : 1;
    cur.resize(ncur);
    for (std::size_t i = 0; i < ncur; ++i) {
      Cursor& c = cur[i];
      c.file.reset();
      c.name = src.kind == SourceKind::run            ? std::string(channel_file_name(static_cast<Channel>(i)))
               : src.kind == SourceKind::conversation ? std::string(kChunksFile)
                                                      : src.file;
      c.chunks = src.kind == SourceKind::conversation;
      c.fixed = c.chunks ? -1 : channel_of_file(c.name);
      c.path = src.dir.empty() || src.dir.back() == '/' ? src.dir + c.name : src.dir + "/" + c.name;
      c.consumed = 0;
      c.consumed_seq = 0;
      RUNLOG_RETURN_IF_ERROR(open_cursor(c));
      if (c.file && f.after > 0) RUNLOG_RETURN_IF_ERROR(seek_after(*c.file, f.after, aux_parser, probe, &c.consumed));
      reset_cursor(c);
    }
    opened = true;
    return Status::OK();
  }

  Status refresh() {
    if (!opened) return Status::Invalid("LogReader::refresh before open");
    if (!sticky.ok()) return sticky;
    RUNLOG_RETURN_IF_ERROR(load_durable());
    if (!ctx.live) RUNLOG_RETURN_IF_ERROR(load_state());
    if (ctx.meta_json.empty()) RUNLOG_RETURN_IF_ERROR(load_meta());
    hole = false;
    became_live = false;
    for (Cursor& c : cur) {
      RUNLOG_RETURN_IF_ERROR(open_cursor(c));
      reset_cursor(c);
    }
    return Status::OK();
  }
};

LogReader::LogReader(ReaderOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
LogReader::~LogReader() = default;

Status LogReader::open(const Source& source, const ReadFilter& filter) { return impl_->open(source, filter); }
Status LogReader::next(const Entry** entry) { return impl_->next(entry); }
Status LogReader::refresh() { return impl_->refresh(); }
const RunContext& LogReader::context() const noexcept { return impl_->ctx; }
bool LogReader::limit_reached() const noexcept { return impl_->limit_hit; }
bool LogReader::finished() const noexcept {
  return impl_->limit_hit || (impl_->ctx.status && is_final(*impl_->ctx.status) && !impl_->ctx.live);
}
const std::vector<std::string>& LogReader::notes() const noexcept { return impl_->notes; }
std::uint64_t LogReader::last_seq() const noexcept { return impl_->last_served; }

}  // namespace runlog::io
