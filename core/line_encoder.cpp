#include "core/line_encoder.h"

#include <fmt/format.h>

#include <cstring>

#include "core/base64.h"
#include "core/line_format.h"
#include "core/timefmt.h"
#include "core/utf8.h"

namespace runlog::detail {
namespace {

inline char* put(char* out, std::string_view s) noexcept {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

using format::finish_line;
using format::put_seq_head;

}  // namespace

std::size_t chunk_line_bound(std::size_t n) noexcept {
  return json_escape_bound(n) + base64_encoded_size(n) + 128;
}

std::size_t encode_chunk_line(char* out, std::uint64_t seq, Channel channel, std::int64_t created_ms,
                              const char* text, std::size_t n, IsoMsCache* iso) noexcept {
  char* p = put_seq_head(out, seq);
  p = put(p, channel == Channel::stdout_ ? R"("channel":"stdout","createdAt":")"
                                         : R"("channel":"stderr","createdAt":")");
  if (iso != nullptr) {
    iso->format(created_ms, p);
  } else {
    format_iso_ms(created_ms, p);
  }
  p += kIsoLength;
  p = put(p, R"(","text":")");
  bool valid = true;
  p = json_escape_utf8(text, n, p, &valid);
  *p++ = '"';
  if (!valid) {
    p = put(p, R"(,"bytes":")");
    p = base64_encode(text, n, p);
    *p++ = '"';
  }
  return finish_line(out, p);
}

std::size_t encode_event_line(char* out, std::uint64_t seq, std::string_view fragment) noexcept {
  char* p = put_seq_head(out, seq);
  p = put(p, R"("channel":"worker",)");
  p = put(p, fragment);
  return finish_line(out, p);
}

std::string render_event_line(EventType type, LogLevel level, std::int64_t created_ms, std::string_view message) {
  char iso[kIsoLength];
  format_iso_ms(created_ms, iso);
  return fmt::format("[{}] {} {}: {}", std::string_view(iso, kIsoLength), level_name(level),
                     event_type_name(type), message);
}

std::string encode_event_fragment(std::string_view event_id, EventType type, LogLevel level,
                                  std::int64_t created_ms, std::string_view message, std::string_view data_json) {
  std::string out;
  out.reserve(160 + message.size() * 2 + data_json.size());
  char iso[kIsoLength];
  format_iso_ms(created_ms, iso);
  out += R"("eventId":)";
  append_json_string(&out, event_id);
  out += R"(,"type":")";
  out += event_type_name(type);
  out += R"(","level":")";
  out += level_name(level);
  out += R"(","createdAt":")";
  out.append(iso, kIsoLength);
  out += R"(","message":)";
  append_json_string(&out, message);
  out += R"(,"data":)";
  out += data_json.empty() ? std::string_view("{}") : data_json;
  out += R"(,"renderedLine":)";
  append_json_string(&out, render_event_line(type, level, created_ms, message));
  return out;
}

}  // namespace runlog::detail
