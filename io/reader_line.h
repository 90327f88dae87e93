// io/reader_line.h — how LogReader takes one line apart (internal to io/reader*.cpp,
// not installed): runlog's own stream-chunk lines by position with their crc,
// StoredChunk lines by position, anything else (runlog's worker lines, lines of
// other implementations of the contract) through simdjson On-Demand with every
// key found by its name. The key orders come from core/line_format.h.
// Header-only so that the per-line path stays inlined into the reader's loop.
// Pure functions; any thread.
#pragma once

#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "core/line_format.h"
#include "core/utf8.h"
#include "io/reader.h"
#include "io/reader_after.h"
#include "io/recovery.h"

namespace runlog::io::reader_detail {

namespace od = simdjson::ondemand;

inline constexpr std::size_t kPad = simdjson::SIMDJSON_PADDING;
inline constexpr std::size_t kMaxLine = 0xFFFFFFF0u;      // offsets in the record index are 32-bit
inline constexpr const char* kMetaFile = "meta.json";
inline constexpr const char* kStateFile = "state.json";
inline constexpr const char* kChunksFile = "chunks.jsonl";

// `,"crc":"` + 8 hex + `"}`: the end of an own line (without its '\n').
inline constexpr std::size_t kCrcTail = kCrcSuffixBytes - 1;

inline constexpr std::string_view kFieldNames[kFieldCount] = {
    "taskId", "stepId",    "runId",   "seq",          "channel", "eventId", "type", "level",
    "createdAt", "message", "data",    "renderedLine", "text",    "bytes",   "crc"};

constexpr int F(Field f) { return static_cast<int>(f); }

inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

inline std::size_t skip_ws(const char* b, std::size_t i, std::size_t end) {
  while (i < end && is_ws(b[i])) ++i;
  return i;
}

inline std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Which key a raw key (the bytes after its opening quote) is; -1: not one of ours.
// Reads up to 14 bytes: callers' buffers have SIMDJSON_PADDING to spare.
inline int match_key(const char* k) {
  auto is = [k](const char* lit, std::size_t n) { return std::memcmp(k, lit, n) == 0; };
  switch (k[0]) {
    case 's':
      if (is("seq\"", 4)) return F(Field::seq);
      if (is("stepId\"", 7)) return F(Field::stepId);
      break;
    case 'c':
      if (is("channel\"", 8)) return F(Field::channel);
      if (is("createdAt\"", 10)) return F(Field::createdAt);
      if (is("crc\"", 4)) return F(Field::crc);
      break;
    case 'e':
      if (is("eventId\"", 8)) return F(Field::eventId);
      break;
    case 't':
      if (is("type\"", 5)) return F(Field::type);
      if (is("text\"", 5)) return F(Field::text);
      if (is("taskId\"", 7)) return F(Field::taskId);
      break;
    case 'l':
      if (is("level\"", 6)) return F(Field::level);
      break;
    case 'm':
      if (is("message\"", 8)) return F(Field::message);
      break;
    case 'd':
      if (is("data\"", 5)) return F(Field::data);
      break;
    case 'r':
      if (is("renderedLine\"", 13)) return F(Field::renderedLine);
      if (is("runId\"", 6)) return F(Field::runId);
      break;
    case 'b':
      if (is("bytes\"", 6)) return F(Field::bytes);
      break;
    default:
      break;
  }
  return -1;
}

// A quoted channel name -> Channel index, or -1.
inline int channel_of_token(std::string_view tok) {
  if (tok == "\"worker\"") return 0;
  if (tok == "\"stdout\"") return 1;
  if (tok == "\"stderr\"") return 2;
  return -1;
}

// The channel a file's name says, or -1.
inline int channel_of_file(std::string_view name) {
  for (int c = 0; c < kRunChannels; ++c)
    if (name == channel_file_name(static_cast<Channel>(c))) return c;
  return -1;
}


struct ByteTables {
  bool b64[256];  // the base64 alphabet and '='
  constexpr ByteTables() : b64() {
    for (int i = 0; i < 256; ++i) b64[i] = false;
    for (int i = 0; i < 26; ++i) b64['A' + i] = b64['a' + i] = true;
    for (int i = 0; i < 10; ++i) b64['0' + i] = true;
    for (unsigned char c : {'+', '/', '='}) b64[c] = true;
  }
};
inline constexpr ByteTables kTables;

// CRC32C of three buffers at once: three independent chains keep the crc32
// unit busy (one chain waits 3 cycles per 8 bytes).
#if defined(__x86_64__)
__attribute__((target("sse4.2"))) void crc32c_x3(const char* const* p, const std::size_t* n, std::uint32_t* out) {
  std::uint64_t s0 = 0xFFFFFFFFu, s1 = 0xFFFFFFFFu, s2 = 0xFFFFFFFFu;
  const std::size_t m = std::min(n[0], std::min(n[1], n[2])) & ~std::size_t{7};
  for (std::size_t i = 0; i < m; i += 8) {
    std::uint64_t a, b, c;
    std::memcpy(&a, p[0] + i, 8);
    std::memcpy(&b, p[1] + i, 8);
    std::memcpy(&c, p[2] + i, 8);
    s0 = _mm_crc32_u64(s0, a);
    s1 = _mm_crc32_u64(s1, b);
    s2 = _mm_crc32_u64(s2, c);
  }
  out[0] = crc32c_extend(~static_cast<std::uint32_t>(s0), p[0] + m, n[0] - m);
  out[1] = crc32c_extend(~static_cast<std::uint32_t>(s1), p[1] + m, n[1] - m);
  out[2] = crc32c_extend(~static_cast<std::uint32_t>(s2), p[2] + m, n[2] - m);
}
#endif

// Where the text token of an own stream line ends: at the crc, or before
// `,"bytes":"…"` (base64 has no quotes, and text's own quotes are escaped).
inline std::size_t own_text_end(const char* p, std::size_t n, std::size_t t0, bool* has_bytes) {
  const std::size_t crc_pos = n - (kCrcSuffixBytes - 1);
  std::size_t k = crc_pos - 2;
  while (k > t0 && kTables.b64[static_cast<unsigned char>(p[k])]) --k;
  if (p[k] == '"' && k >= t0 + 2 + 9 && std::memcmp(p + k - 9, ",\"bytes\":", 9) == 0 && p[k - 10] == '"') {
    *has_bytes = true;
    return k - 9;
  }
  *has_bytes = false;
  return crc_pos;
}

// p[0..N-1) == lit, for a literal of 4..16 bytes: two overlapping loads,
// folded to constants (no memcmp call on the per-line path).
template <std::size_t N>
inline bool eq_lit(const char* p, const char (&lit)[N]) {
  constexpr std::size_t n = N - 1;
  static_assert(n >= 4 && n <= 16);
  if constexpr (n >= 8) {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, p, 8);
    std::memcpy(&a1, p + n - 8, 8);
    std::memcpy(&b0, lit, 8);
    std::memcpy(&b1, lit + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  } else {
    std::uint32_t a0, a1, b0, b1;
    std::memcpy(&a0, p, 4);
    std::memcpy(&a1, p + n - 4, 4);
    std::memcpy(&b0, lit, 4);
    std::memcpy(&b1, lit + n - 4, 4);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
}

// A span of a line: offset from the line's start and length; len 0 = absent.
struct Span {
  std::uint32_t off = 0;
  std::uint32_t len = 0;
};

enum : std::uint8_t { kOwnStream = 0, kSpans = 1, kChunk = 2 };
enum : std::uint8_t { kCanonical = 1, kHasBytes = 2, kNoNewline = 4 };

// One record of a channel buffer, as the merge sees it (24 bytes).
struct Rec {
  std::uint64_t seq;
  std::uint32_t off;  // line start in the buffer
  std::uint32_t len;  // line length, '\n' excluded
  std::uint32_t aux;  // kOwnStream: start of the text token (from the line's start); kSpans: index in side / kFieldCount;
                      // kChunk: start of the chunk object (from the line's start)
  std::uint8_t kind;
  std::uint8_t channel;
  std::uint8_t digits;  // kOwnStream, kChunk: digits of seq
  std::uint8_t flags;
};

inline constexpr const char* kBadCrc = "has a bad crc (its bytes do not match it)";

// What is wrong with a line.
struct Bad {
  const char* what = nullptr;
  int field = -1;  // the key it is about, or -1
  explicit operator bool() const { return what != nullptr; }
};

inline std::string describe(const Bad& b) {
  if (b.field >= 0) return fmt::format("\"{}\" {}", kFieldNames[b.field], b.what);
  return b.what;
}

// The keys of a runlog line, in the order runlog writes them.
// A key order of core/line_format.h as indexes into kFieldNames.
template <std::size_t N>
constexpr std::array<std::uint8_t, N> field_order(const std::string_view (&keys)[N]) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) {
    std::size_t f = 0;
    while (f < kFieldCount && kFieldNames[f] != keys[i]) ++f;
    if (f == kFieldCount) throw "a key of core/line_format.h that the reader does not know";  // compile-time error
    out[i] = static_cast<std::uint8_t>(f);
  }
  return out;
}
// The keys of a runlog line, in the order runlog writes them (core/line_format.h);
// a chunk line without "bytes" is the same order with that key left out.
inline constexpr auto kWorkerOrder = field_order(format::kWorkerLineKeys);
inline constexpr auto kStreamBytesOrder = field_order(format::kChunkLineKeys);
inline constexpr std::array<std::uint8_t, kStreamBytesOrder.size() - 1> kStreamOrder = {
    kStreamBytesOrder[0], kStreamBytesOrder[1], kStreamBytesOrder[2], kStreamBytesOrder[3], kStreamBytesOrder[5]};
static_assert(kStreamBytesOrder[4] == F(Field::bytes) && kStreamBytesOrder[5] == F(Field::crc));

template <std::size_t N>
bool same_order(const std::uint8_t* got, int n, const std::array<std::uint8_t, N>& want) {
  return n == static_cast<int>(N) && std::memcmp(got, want.data(), N) == 0;
}

// Decodes one line p[0..n) (no '\n') into *r (and spans[kFieldCount] when it
// is not an own stream chunk). `doc` is the line's simdjson document; it is
// touched only when the line is not runlog's own stream-chunk format.
// With `crc_deferred`, the crc of an own line is not computed here: the line
// is taken as own and *crc_deferred set; the caller checks it later (several
// lines at once) and throws the line away when it does not match.
template <class Doc>
Bad decode_line(Doc& doc, const char* p, std::size_t n, int fixed, bool check_crc, Rec* r, Span* spans,
                bool* crc_deferred = nullptr) {
  // runlog's own line: `{"seq":N,...,"crc":"xxxxxxxx"}` with a matching CRC32C.
  bool own = false;
  if (n >= 7 + kCrcTail && p[n - 1] == '}' && p[n - 2] == '"' && eq_lit(p + n - kCrcTail, ",\"crc\":\"")) {
    if (check_crc && crc_deferred) {
      *crc_deferred = true;
    } else if (check_crc) {
      char hex[8];
      crc32c_hex(crc32c(p, n - kCrcTail), hex);
      if (std::memcmp(hex, p + n - 10, 8) != 0) {
        std::uint32_t stored = 0;
        if (!parse_crc32c_hex(p + n - 10, &stored)) return {"is not 8 lowercase hex digits", F(Field::crc)};
        return {kBadCrc};
      }
    } else {
      std::uint32_t stored = 0;
      if (!parse_crc32c_hex(p + n - 10, &stored)) return {"is not 8 lowercase hex digits", F(Field::crc)};
    }
    own = true;
  }
  const std::size_t crc_pos = n - kCrcTail;

  // Fast path: an own stream chunk, taken apart by position.
  if (own && eq_lit(p, "{\"seq\":")) {
    std::uint64_t seq = 0;
    int d = 0;
    if (parse_seq_digits(p + 7, n - 7, &seq, &d)) {
      const std::size_t q = 7 + static_cast<std::size_t>(d);
      const std::size_t ch = q + 12;        // after `,"channel":"`
      const std::size_t created = ch + 21;  // after `stdout","createdAt":"`
      const std::size_t t0 = created + 33;  // 24 + `","text":` -> the text token's quote
      int c = -1;
      if (t0 + 2 <= crc_pos && eq_lit(p + q, ",\"channel\":\"")) {
        if (eq_lit(p + ch, "stdout")) c = 1;
        else if (eq_lit(p + ch, "stderr")) c = 2;
      }
      if (c > 0 && eq_lit(p + ch + 6, "\",\"createdAt\":\"") && eq_lit(p + created + 24, "\",\"text\":\"")) {
        // text runs to the crc, or to `,"bytes":"…"` before it: found when
        // the entry is served (text_end()), not here.
        if (p[crc_pos - 1] == '"') {
          if (fixed >= 0 && fixed != c) return {"does not name this file's channel", F(Field::channel)};
          r->seq = seq;
          r->kind = kOwnStream;
          r->channel = static_cast<std::uint8_t>(c);
          r->digits = static_cast<std::uint8_t>(d);
          r->flags = kCanonical;
          r->aux = static_cast<std::uint32_t>(t0);
          return {};
        }
      }
    }
  }

  // Every other line: On-Demand, key by key, in any order.
  for (int i = 0; i < kFieldCount; ++i) spans[i] = Span{};
  od::object obj;
  if (doc.get_object().get(obj)) return {"is not a JSON object"};
  std::uint8_t order[kFieldCount];
  int norder = 0;
  bool unknown = false;
  for (auto fres : obj) {
    od::field field;
    if (std::move(fres).get(field)) return {"is not valid JSON"};
    const int id = match_key(field.key().raw());
    if (id < 0) {
      unknown = true;
      continue;
    }
    if (spans[id].len != 0) return {"appears twice", id};
    od::value v = field.value();
    std::string_view tok;
    if (id == F(Field::data)) {
      od::object o;
      if (v.get_object().get(o)) return {"is not an object", id};
      if (o.raw_json().get(tok)) return {"is not valid JSON", id};
    } else {
      tok = trim_right(v.raw_json_token());
      if (id == F(Field::seq)) {
        std::uint64_t s = 0;
        if (v.get_uint64().get(s) || s == 0) return {"is not a whole number >= 1", id};
        r->seq = s;
      } else {
        if (tok.size() < 2 || tok[0] != '"') return {"is not a string", id};
        if (!own) {  // a foreign line: check its escapes now (own lines carry a CRC)
          std::string_view unused;
          if (v.get_string().get(unused)) return {"is not a valid JSON string", id};
        }
      }
    }
    if (tok.data() < p || tok.data() + tok.size() > p + n) return {"spans more than one line"};
    spans[id] = Span{static_cast<std::uint32_t>(tok.data() - p), static_cast<std::uint32_t>(tok.size())};
    order[norder++] = static_cast<std::uint8_t>(id);
  }
  if (spans[F(Field::seq)].len == 0) return {"is missing", F(Field::seq)};
  int c = fixed;
  if (spans[F(Field::channel)].len != 0) {
    const Span s = spans[F(Field::channel)];
    c = channel_of_token(std::string_view(p + s.off, s.len));
    if (c < 0) return {"is not worker, stdout or stderr", F(Field::channel)};
    if (fixed >= 0 && c != fixed) return {"does not name this file's channel", F(Field::channel)};
  } else if (c < 0) {
    return {"is missing", F(Field::channel)};
  }
  static constexpr Field kWorkerNeeds[] = {Field::eventId, Field::type,  Field::level,       Field::createdAt,
                                           Field::message, Field::data,  Field::renderedLine};
  static constexpr Field kStreamNeeds[] = {Field::createdAt, Field::text};
  if (c == 0) {
    for (Field f : kWorkerNeeds)
      if (spans[F(f)].len == 0) return {"is missing", F(f)};
  } else {
    for (Field f : kStreamNeeds)
      if (spans[F(f)].len == 0) return {"is missing", F(f)};
  }
  std::uint8_t flags = 0;
  if (own && !unknown && spans[F(Field::crc)].off == crc_pos + 7) {
    const bool canonical = c == 0 ? same_order(order, norder, kWorkerOrder)
                                  : (same_order(order, norder, kStreamOrder) ||
                                     same_order(order, norder, kStreamBytesOrder));
    if (canonical) flags |= kCanonical;
  }
  if (spans[F(Field::bytes)].len != 0) flags |= kHasBytes;
  r->kind = kSpans;
  r->channel = static_cast<std::uint8_t>(c);
  r->digits = 0;
  r->flags = flags;
  return {};
}

// Decodes one line p[0..n) (no '\n') of a conversation's chunks.jsonl: a
// StoredChunk of runlog's own, `{"seq":N,"role":"…","chunk":{…},"crc":"…"}`,
// taken apart by position (its key order is fixed). Anything else is not a
// record of this file. `crc_deferred` as for decode_line().
inline Bad decode_chunk_line(const char* p, std::size_t n, bool check_crc, Rec* r, bool* crc_deferred = nullptr) {
  if (!(n >= 7 + kCrcTail && p[n - 1] == '}' && p[n - 2] == '"' && eq_lit(p + n - kCrcTail, ",\"crc\":\"")))
    return {"is not a StoredChunk line of runlog's (no crc)"};
  if (check_crc && crc_deferred) {
    *crc_deferred = true;
  } else if (check_crc) {
    char hex[8];
    crc32c_hex(crc32c(p, n - kCrcTail), hex);
    if (std::memcmp(hex, p + n - 10, 8) != 0) return {kBadCrc};
  }
  const std::size_t crc_pos = n - kCrcTail;
  std::uint64_t seq = 0;
  int d = 0;
  if (!eq_lit(p, "{\"seq\":") || !parse_seq_digits(p + 7, crc_pos - 7, &seq, &d))
    return {"is not a whole number >= 1", F(Field::seq)};
  const std::size_t q = 7 + static_cast<std::size_t>(d);
  if (q + 9 >= crc_pos || !eq_lit(p + q, ",\"role\":\"")) return {"is not a StoredChunk line (no role)"};
  const std::size_t role = q + 9;
  const char* quote = static_cast<const char*>(std::memchr(p + role, '"', crc_pos - role));
  if (quote == nullptr) return {"is not a StoredChunk line (no role)"};
  const std::size_t chunk = static_cast<std::size_t>(quote - p) + 10;  // after `","chunk":`
  if (chunk + 2 > crc_pos || !eq_lit(quote, "\",\"chunk\":") || p[chunk] != '{' || p[crc_pos - 1] != '}')
    return {"is not a StoredChunk line (no chunk object)"};
  r->seq = seq;
  r->kind = kChunk;
  r->channel = 0;
  r->digits = static_cast<std::uint8_t>(d);
  r->flags = kCanonical;
  r->aux = static_cast<std::uint32_t>(chunk);
  return {};
}

// A valid record by the one rule of io/recovery.h (runlog's own line, or a
// line of another implementation), for the torn-tail test.
inline bool line_is_record(std::string_view line_nl, simdjson::dom::parser& parser) {
  return check_record_line(line_nl, parser).valid;
}

// Whether a single-line document was read to its end (nothing after the object).
inline bool at_doc_end(od::document& doc) { return doc.current_location().error() == simdjson::OUT_OF_BOUNDS; }

}  // namespace runlog::io::reader_detail
