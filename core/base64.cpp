// core/base64.cpp — RFC 4648 base64 (standard alphabet, '=' padding).
//
// Decoding is strict: the length is a multiple of 4, '=' appears only as one
// or two final padding characters, there is no whitespace, and the bits that
// padding leaves over must be zero (only the canonical encoding of some bytes
// is accepted, which is all that Node's Buffer.toString('base64') produces).
#include "base64.h"

#include <array>
#include <cstdint>

namespace runlog {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::uint8_t kBad = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kBad;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}

constexpr std::array<std::uint8_t, 256> kDecode = make_decode_table();

}  // namespace

char* base64_encode(const void* in, std::size_t n, char* out) noexcept {
  const auto* p = static_cast<const unsigned char*>(in);
  while (n >= 3) {
    const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = kAlphabet[v & 63];
    p += 3;
    n -= 3;
    out += 4;
  }
  if (n == 1) {
    const std::uint32_t v = std::uint32_t{p[0]} << 16;
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = '=';
    out[3] = '=';
    out += 4;
  } else if (n == 2) {
    const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8);
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = '=';
    out += 4;
  }
  return out;
}

bool base64_decode(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  if (in.empty()) return true;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t groups = in.size() / 4;
  std::size_t pad = 0;
  if (p[in.size() - 1] == '=') pad = (p[in.size() - 2] == '=') ? 2 : 1;

  const std::size_t old = out->size();
  out->resize(old + groups * 3 - pad);
  char* w = out->data() + old;

  // All groups but the last: four alphabet characters each.
  for (std::size_t g = 0; g + 1 < groups; ++g, p += 4) {
    const std::uint8_t a = kDecode[p[0]], b = kDecode[p[1]], c = kDecode[p[2]], d = kDecode[p[3]];
    if ((a | b | c | d) & 0xC0) {  // kBad has these bits set
      out->resize(old);
      return false;
    }
    const std::uint32_t v = (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6) | d;
    *w++ = static_cast<char>(v >> 16);
    *w++ = static_cast<char>((v >> 8) & 0xFF);
    *w++ = static_cast<char>(v & 0xFF);
  }

  // The last group, with its padding.
  const std::uint8_t a = kDecode[p[0]], b = kDecode[p[1]];
  const std::uint8_t c = pad >= 2 ? 0 : kDecode[p[2]];
  const std::uint8_t d = pad >= 1 ? 0 : kDecode[p[3]];
  bool good = ((a | b | c | d) & 0xC0) == 0;
  if (good) {
    const std::uint32_t v = (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6) | d;
    // Leftover bits must be zero: the canonical encoding only.
    if (pad == 2 && (v & 0xFFFF) != 0) good = false;
    if (pad == 1 && (v & 0xFF) != 0) good = false;
    if (good) {
      *w++ = static_cast<char>(v >> 16);
      if (pad < 2) *w++ = static_cast<char>((v >> 8) & 0xFF);
      if (pad < 1) *w++ = static_cast<char>(v & 0xFF);
    }
  }
  if (!good) {
    out->resize(old);
    return false;
  }
  return true;
}

}  // namespace runlog
