// io/verify_record.cpp — one record against the contract: its keys, in the
// order of its channel (core/line_format.h), and its values as
// docs/format.md says; a line of another implementation against
// local-run.ts / wire.ts alone.
#include "io/verify_internal.h"

#include "core/base64.h"
#include "core/chunk_codec.h"
#include "core/ids.h"
#include "core/timefmt.h"
#include "core/utf8.h"

namespace runlog::io::verify_detail {

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

namespace {

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

}  // namespace

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

// docs/format.md says. Returns "" or the first thing wrong.
std::string Scanner::check_doc(od::document_reference doc, const char* const line, const LineRef& l) {
  type_ = {};
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return json_problem(e);

  enum class Layout { unknown, chunk, worker, conv } layout = Layout::unknown;
  // The key orders are core/line_format.h's.
  static constexpr std::span<const std::string_view> kChunkKeys = format::kChunkLineKeys;
  static constexpr std::span<const std::string_view> kWorkerKeys = format::kWorkerLineKeys;
  static constexpr std::span<const std::string_view> kConvKeys = format::kStoredChunkKeys;
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

}  // namespace runlog::io::verify_detail
