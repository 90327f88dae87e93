// io/reader_format.cpp — what the reader's entries become: the contract's
// JSON lines, the terminal's text, the original bytes; and the summary.
#include <fmt/format.h>

#include <cstring>
#include <iterator>
#include <span>

#include "core/base64.h"
#include "core/utf8.h"
#include "io/reader.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

constexpr Field kWorkerKeys[] = {Field::seq,       Field::channel, Field::eventId, Field::type,        Field::level,
                                 Field::createdAt, Field::message, Field::data,    Field::renderedLine};
constexpr Field kStreamKeys[] = {Field::seq, Field::channel, Field::createdAt, Field::text};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(const char* p, const char* end, unsigned* out) {
  if (end - p < 4) return false;
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex_value(p[i]);
    if (h < 0) return false;
    v = v << 4 | static_cast<unsigned>(h);
  }
  *out = v;
  return true;
}

void append_utf8(unsigned cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Rewrites out[from..) so that control characters other than '\n' and '\t'
// are shown rather than sent: caret notation for C0 and DEL, "M-^X" for C1.
void make_controls_visible(std::string* out, std::size_t from) {
  const auto* b = reinterpret_cast<const unsigned char*>(out->data());
  const std::size_t n = out->size();
  std::size_t i = from;
  for (; i < n; ++i) {
    unsigned char c = b[i];
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) break;
    if (c == 0xC2 && i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0x9F) break;
  }
  if (i == n) return;
  std::string shown(out->data() + from, i - from);
  for (; i < n; ++i) {
    unsigned char c = b[i];
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      shown.push_back('^');
      shown.push_back(c == 0x7F ? '?' : static_cast<char>(c + 0x40));
    } else if (c == 0xC2 && i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0x9F) {
      shown += "M-^";
      shown.push_back(static_cast<char>(b[i + 1] - 0x80 + 0x40));
      ++i;
    } else {
      shown.push_back(static_cast<char>(c));
    }
  }
  out->resize(from);
  out->append(shown);
}

Status bad_string(const Entry& e, Field f) {
  return Status::Corruption(
      fmt::format("{}:{}: \"{}\" is not a valid JSON string", e.file_path(), e.offset(), field_name(f)));
}

}  // namespace

bool append_unescaped(std::string_view token, std::string* out) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
  const char* p = token.data() + 1;
  const char* const end = token.data() + token.size() - 1;
  while (p < end) {
    const char* bs = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(end - p)));
    if (bs == nullptr) {
      out->append(p, static_cast<std::size_t>(end - p));
      return true;
    }
    out->append(p, static_cast<std::size_t>(bs - p));
    p = bs + 1;
    if (p >= end) return false;
    switch (*p++) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        unsigned cp = 0;
        if (!read_hex4(p, end, &cp)) return false;
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo = 0;
          if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && read_hex4(p + 2, end, &lo) && lo >= 0xDC00 &&
              lo <= 0xDFFF) {
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            cp = 0xFFFD;  // a lone high surrogate
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;  // a lone low surrogate
        }
        append_utf8(cp, out);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

void append_jsonl(const Entry& e, const RunContext& ctx, std::string* out) {
  if (e.own_format()) {
    const std::string_view body = e.body();
    out->append(ctx.jsonl_prefix).append(body).append("}\n", 2);
    return;
  }
  out->push_back('{');
  bool first = true;
  auto put = [&](Field f, std::string_view value) {
    if (value.empty()) return;
    if (!first) out->push_back(',');
    first = false;
    out->push_back('"');
    out->append(field_name(f));
    out->append("\":");
    out->append(value);
  };
  put(Field::taskId, e.has(Field::taskId) ? e.raw(Field::taskId) : std::string_view(ctx.task_id));
  put(Field::stepId, e.has(Field::stepId) ? e.raw(Field::stepId) : std::string_view(ctx.step_id));
  put(Field::runId, e.has(Field::runId) ? e.raw(Field::runId) : std::string_view(ctx.run_id));
  static constexpr std::string_view kChannelTokens[] = {"\"worker\"", "\"stdout\"", "\"stderr\""};
  auto keys = e.channel() == Channel::worker ? std::span<const Field>(kWorkerKeys) : std::span<const Field>(kStreamKeys);
  for (Field f : keys) {
    if (f == Field::channel && !e.has(Field::channel)) {
      put(f, kChannelTokens[static_cast<int>(e.channel())]);
    } else {
      put(f, e.raw(f));
    }
  }
  out->append("}\n");
}

Status append_text(const Entry& e, bool visible_controls, std::string* out) {
  const std::size_t from = out->size();
  if (e.channel() == Channel::worker) {
    if (!append_unescaped(e.raw(Field::renderedLine), out)) {
      out->resize(from);
      return bad_string(e, Field::renderedLine);
    }
    if (visible_controls) make_controls_visible(out, from);
    out->push_back('\n');
    return Status::OK();
  }
  if (!append_unescaped(e.raw(Field::text), out)) {
    out->resize(from);
    return bad_string(e, Field::text);
  }
  if (visible_controls) make_controls_visible(out, from);
  return Status::OK();
}

void append_stored(const Entry& e, std::string* out) {
  // The line up to the end of its chunk is the StoredChunk's own keys, in
  // the contract's order: copied as it is, then the object is closed.
  const std::string_view line = e.line();
  const std::string_view chunk = e.chunk();
  out->append(line.data(), static_cast<std::size_t>(chunk.data() + chunk.size() - line.data()));
  out->append("}\n");
}

void MessageWriter::add(const Entry& e, std::string* out) {
  if (open_ && e.role() == role_) {
    chunks_ += ',';
    chunks_ += e.chunk();
    return;
  }
  finish(out);
  role_.assign(e.role());
  chunks_.assign(e.chunk());
  open_ = true;
}

void MessageWriter::finish(std::string* out) {
  if (!open_) return;
  *out += R"({"role":")";
  *out += role_;
  *out += R"(","chunks":[)";
  *out += chunks_;
  *out += "]}\n";
  open_ = false;
}

Status append_raw(const Entry& e, std::string* out) {
  if (e.channel() == Channel::worker) return Status::OK();
  const std::string_view bytes = e.raw(Field::bytes);
  if (!bytes.empty()) {
    if (bytes.size() < 2 || !base64_decode(bytes.substr(1, bytes.size() - 2), out))
      return Status::Corruption(fmt::format("{}:{}: \"bytes\" is not base64", e.file_path(), e.offset()));
    return Status::OK();
  }
  const std::size_t from = out->size();
  if (!append_unescaped(e.raw(Field::text), out)) {
    out->resize(from);
    return bad_string(e, Field::text);
  }
  return Status::OK();
}

Result<RunSummary> summarize(LogReader& reader, const Source& source) {
  RUNLOG_RETURN_IF_ERROR(reader.open(source));
  RunSummary s;
  const Entry* e = nullptr;
  Status st;
  bool first = true;
  std::string_view last_created;
  while ((st = reader.next(&e)).ok() && e != nullptr) {
    ++s.counts.totalEntries;
    s.counts.lastSeq = e->seq();
    switch (e->channel()) {
      case Channel::worker: ++s.counts.lifecycleEventCount; break;
      case Channel::stdout_: ++s.counts.stdoutChunkCount; break;
      case Channel::stderr_: ++s.counts.stderrChunkCount; break;
    }
    s.bytes[static_cast<int>(e->channel())] += e->size_on_disk();
    if (first) {
      s.first_created_at = std::string(e->created_at());
      first = false;
    }
    last_created = e->created_at();
    s.last_created_at.assign(last_created.data(), last_created.size());
  }
  if (!st.ok()) return st;
  return s;
}

std::string summary_json(const RunSummary& s, const RunContext& ctx) {
  std::string out;
  out.reserve(512 + ctx.meta_json.size() + ctx.state_json.size());
  const LocalRunLogSummary& c = s.counts;
  fmt::format_to(std::back_inserter(out),
                 "{{\"totalEntries\":{},\"lastSeq\":{},\"lifecycleEventCount\":{},\"stdoutChunkCount\":{},"
                 "\"stderrChunkCount\":{},\"firstCreatedAt\":",
                 c.totalEntries, c.lastSeq, c.lifecycleEventCount, c.stdoutChunkCount, c.stderrChunkCount);
  auto str_or_null = [&](const std::string& v) {
    if (v.empty() && c.totalEntries == 0) out += "null";
    else append_json_string(&out, v);
  };
  str_or_null(s.first_created_at);
  out += ",\"lastCreatedAt\":";
  str_or_null(s.last_created_at);
  fmt::format_to(std::back_inserter(out), ",\"bytes\":{{\"worker\":{},\"stdout\":{},\"stderr\":{}}},\"live\":{}",
                 s.bytes[0], s.bytes[1], s.bytes[2], ctx.live ? "true" : "false");
  out += ctx.status && is_abandoned(ctx.live, *ctx.status) ? ",\"abandoned\":true" : ",\"abandoned\":false";
  out += ",\"durableSeq\":";
  out += ctx.has_durable_file ? std::to_string(ctx.durable_seq) : "null";
  out += ",\"meta\":";
  out += ctx.meta_json.empty() ? "null" : ctx.meta_json;
  out += ",\"state\":";
  out += ctx.state_json.empty() ? "null" : ctx.state_json;
  out += '}';
  return out;
}

}  // namespace runlog::io
