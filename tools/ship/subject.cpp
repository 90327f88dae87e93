// tools/ship/subject.cpp — subjects and message ids (subject.h).
#include "tools/ship/subject.h"

#include <fmt/format.h>

namespace runlog::ship {
namespace {

bool plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string encode_token(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size() + 8);
  for (char c : id) {
    if (plain(c)) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

std::optional<std::string> decode_token(std::string_view token) {
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char c = token[i];
    if (plain(c)) {
      out += c;
      continue;
    }
    if (c != '%' || i + 2 >= token.size()) return std::nullopt;
    const int hi = hex(token[i + 1]), lo = hex(token[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char d = static_cast<char>(hi * 16 + lo);
    if (plain(d)) return std::nullopt;  // not canonical: two spellings of one id
    out += d;
    i += 2;
  }
  return out;
}

std::string run_subject(std::string_view task_id, std::string_view run_id, Channel channel) {
  return fmt::format("runlog.run.{}.{}.{}", encode_token(task_id), encode_token(run_id), channel_name(channel));
}

std::string run_subject_wildcard(std::string_view task_id, std::string_view run_id) {
  return fmt::format("runlog.run.{}.{}.*", encode_token(task_id), encode_token(run_id));
}

std::string run_subject_end(std::string_view task_id, std::string_view run_id) {
  return fmt::format("runlog.run.{}.{}.end", encode_token(task_id), encode_token(run_id));
}

std::string conv_subject(std::string_view conversation_id) {
  return fmt::format("runlog.conv.{}", encode_token(conversation_id));
}

std::string run_msg_id(std::string_view task_id, std::string_view run_id, std::uint64_t seq) {
  return fmt::format("run/{}/{}/{}", task_id, run_id, seq);
}

std::string conv_msg_id(std::string_view conversation_id, std::uint64_t seq) {
  return fmt::format("conv/{}/{}", conversation_id, seq);
}

}  // namespace runlog::ship
