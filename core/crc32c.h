// core/crc32c.h — CRC32C (Castagnoli), as every runlog line carries it.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time: the default build has no -march flags), a table otherwise.
// Thread-safe, allocation-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace runlog {

/// Extends `crc` (0 to start) over data[0..n). crc32c_extend(0, "123456789", 9)
/// == 0xe3069283, and extend(extend(0, a), b) == extend(0, a+b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
inline std::uint32_t crc32c(const void* data, std::size_t n) noexcept { return crc32c_extend(0, data, n); }

/// The CRC of A, advanced over n more bytes, as zlib's crc32_combine uses it:
/// crc32c_shift(crc32c(A), |B|) ^ crc32c(B) == crc32c(A || B). So the CRC of
/// a suffix B follows from the CRC of the whole and of the prefix A, without
/// reading A again (the scanner looks for a record hidden in a damaged line
/// this way). O(log n) multiplications in GF(2).
std::uint32_t crc32c_shift(std::uint32_t crc, std::uint64_t n) noexcept;

/// Writes the 8 lowercase hex digits of `crc` to out[0..8). Inline: the
/// readers format one per line in their hot loop.
inline void crc32c_hex(std::uint32_t crc, char* out) noexcept {
  constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 7; i >= 0; --i) {
    out[i] = kDigits[crc & 0xfu];
    crc >>= 4;
  }
}

namespace crc32c_detail {
// Lowercase hex digit -> its value; every other byte -> 0x10 (a bit no digit has).
constexpr std::array<std::uint8_t, 256> make_hex_table() {
  std::array<std::uint8_t, 256> t{};
  for (unsigned b = 0; b < 256; ++b) t[b] = 0x10;
  for (unsigned d = 0; d < 10; ++d) t['0' + d] = static_cast<std::uint8_t>(d);
  for (unsigned d = 0; d < 6; ++d) t['a' + d] = static_cast<std::uint8_t>(10 + d);
  return t;
}
inline constexpr std::array<std::uint8_t, 256> kHexValue = make_hex_table();
}  // namespace crc32c_detail

/// Parses 8 lowercase hex digits; false on anything else. One table look-up
/// per digit: a CRC's digits are random, so a digit-or-letter branch per byte
/// would mispredict about every other line. The only branch, "not a digit",
/// is never taken on a good line; it also stops at the first bad byte, so
/// nothing past it is read (a NUL ends a short string).
inline bool parse_crc32c_hex(const char* in, std::uint32_t* crc) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 8; ++i) {
    const std::uint32_t d = crc32c_detail::kHexValue[static_cast<unsigned char>(in[i])];
    if (d & 0x10u) return false;
    v = (v << 4) | d;
  }
  *crc = v;
  return true;
}

/// Whether the hardware path is in use (for benchmarks and --version).
bool crc32c_is_hardware() noexcept;

}  // namespace runlog
