// core/chunk_codec.cpp — see core/chunk_codec.h.
#include "core/chunk_codec.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cstring>

#include "core/line_format.h"
#include "core/utf8.h"

namespace runlog {

std::string_view role_name(Role r) noexcept {
  switch (r) {
    case Role::system: return "system";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view s) noexcept {
  if (s == "system") return Role::system;
  if (s == "user") return Role::user;
  if (s == "assistant") return Role::assistant;
  if (s == "tool") return Role::tool;
  return std::nullopt;
}

namespace detail {
namespace {

// The keys of each variant, in the contract's order ("type" first).
struct Variant {
  ChunkType type;
  std::string_view name;
  std::string_view keys[5];
  int count;
};
constexpr Variant kVariants[] = {
    {ChunkType::text, "text", {"type", "text"}, 2},
    {ChunkType::thinking, "thinking", {"type", "text"}, 2},
    {ChunkType::tool_call, "tool-call", {"type", "toolCallId", "toolName", "input"}, 4},
    {ChunkType::tool_result, "tool-result", {"type", "toolCallId", "toolName", "content", "isError"}, 5},
    {ChunkType::error, "error", {"type", "message", "code"}, 3},
    {ChunkType::system, "system", {"type", "text"}, 2},
};

void put_string(std::string* out, std::string_view s) {
  const std::size_t at = out->size();
  out->resize(at + json_escape_bound(s.size()) + 2);
  char* p = out->data() + at;
  *p++ = '"';
  p = json_escape_utf8(s.data(), s.size(), p);
  *p++ = '"';
  out->resize(static_cast<std::size_t>(p - out->data()));
}

Status bad(std::string_view what) { return Status::Invalid(fmt::format("chunk: {}", what)); }

}  // namespace

std::string_view chunk_type_name(ChunkType t) noexcept { return kVariants[static_cast<int>(t)].name; }

Status encode_chunk_fragment(Role role, std::string_view chunk_json, std::string* out, ChunkInfo* info) {
  if (static_cast<unsigned>(role) > static_cast<unsigned>(Role::tool)) return Status::Invalid("role: out of range");
  thread_local simdjson::dom::parser parser;
  thread_local std::string padded;
  padded.assign(chunk_json);
  padded.resize(chunk_json.size() + simdjson::SIMDJSON_PADDING, '\0');
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded.data(), chunk_json.size(), false).get(doc); err)
    return bad(fmt::format("not JSON ({})", simdjson::error_message(err)));
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return bad("must be a JSON object");
  std::string_view type_name;
  auto type_field = obj["type"];
  if (type_field.error() == simdjson::NO_SUCH_FIELD) return bad("missing \"type\"");
  if (type_field.get_string().get(type_name)) return bad("\"type\" must be a string");
  const Variant* v = nullptr;
  for (const Variant& cand : kVariants)
    if (cand.name == type_name) v = &cand;
  if (v == nullptr)
    return bad(fmt::format("unknown type \"{}\" (text, thinking, tool-call, tool-result, error or system)",
                           type_name));
  // No key the variant does not have (and none twice).
  int seen = 0;
  for (auto field : obj) {
    int k = -1;
    for (int i = 0; i < v->count; ++i)
      if (v->keys[i] == field.key) k = i;
    if (k < 0) return bad(fmt::format("{}: unexpected key \"{}\"", v->name, field.key));
    if ((seen >> k) & 1) return bad(fmt::format("{}: key \"{}\" twice", v->name, field.key));
    seen |= 1 << k;
  }
  *info = ChunkInfo{};
  info->type = v->type;
  out->clear();
  out->append(R"("role":")");
  out->append(role_name(role));
  out->append(R"(","chunk":)");
  const std::size_t chunk_at = out->size();
  out->append(R"({"type":")");
  out->append(v->name);
  out->push_back('"');
  for (int i = 1; i < v->count; ++i) {
    const std::string_view key = v->keys[i];
    simdjson::dom::element value;
    const bool present = (seen >> i) & 1;
    if (present && obj[key].get(value) != simdjson::SUCCESS) return bad(fmt::format("{}: \"{}\" unreadable", v->name, key));
    if (key == "input") {  // unknown: any JSON value, required
      if (!present) return bad(fmt::format("{}: missing \"input\"", v->name));
      out->append(R"(,"input":)");
      out->append(simdjson::minify(value));
      continue;
    }
    if (key == "isError") {
      bool b = false;
      if (!present) return bad(fmt::format("{}: missing \"isError\"", v->name));
      if (value.get_bool().get(b)) return bad(fmt::format("{}: \"isError\" must be a boolean", v->name));
      out->append(b ? R"(,"isError":true)" : R"(,"isError":false)");
      continue;
    }
    const bool optional = key == "code";
    if (!present) {
      if (optional) continue;
      return bad(fmt::format("{}: missing \"{}\"", v->name, key));
    }
    std::string_view s;
    if (value.get_string().get(s)) return bad(fmt::format("{}: \"{}\" must be a string", v->name, key));
    if ((key == "toolCallId" || key == "toolName") && s.empty())
      return bad(fmt::format("{}: \"{}\" must not be empty", v->name, key));
    out->append(R"(,")");
    out->append(key);
    out->append(R"(":)");
    put_string(out, s);
    if (key == "toolCallId") info->tool_call_id = s;
    if (key == "toolName") info->tool_name = s;
  }
  out->push_back('}');
  info->chunk = std::string_view(*out).substr(chunk_at);
  return Status::OK();
}

std::string interrupted_tool_result(std::string_view tool_call_id, std::string_view tool_name) {
  std::string out = R"({"type":"tool-result","toolCallId":)";
  put_string(&out, tool_call_id);
  out += R"(,"toolName":)";
  put_string(&out, tool_name);
  out += R"(,"content":)";
  put_string(&out, kInterruptedContent);
  out += R"(,"isError":true})";
  return out;
}

std::size_t encode_stored_line(char* out, std::uint64_t seq, std::string_view fragment) noexcept {
  return format::frame_line(out, seq, fragment);
}

}  // namespace detail
}  // namespace runlog
