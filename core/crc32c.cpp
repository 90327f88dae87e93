// core/crc32c.cpp — CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
//
// Two implementations:
//  - extend_table: portable slicing-by-8 (8 tables of 256 entries, built at
//    compile time).
//  - extend_hardware: the SSE4.2 crc32 instruction, 8 bytes per instruction.
//    The instruction has a latency of 3 cycles and a throughput of 1 per cycle,
//    so long buffers are cut into three equal lanes computed side by side and
//    combined afterwards: the state after lane A, advanced over L zero bytes
//    ("shifted"), xor the CRC of lane B started from 0, is the state after A+B.
//    Shifting by a fixed L is linear over GF(2), so it is four table lookups.
//
// The hardware path is compiled with __attribute__((target("sse4.2"))) only, and
// is chosen once at run time with __builtin_cpu_supports; the build has no
// -march flags.
#include "crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#include "crc32c_internal.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define RUNLOG_CRC32C_HAVE_SSE42 1
#else
#define RUNLOG_CRC32C_HAVE_SSE42 0
#endif

namespace runlog {
namespace crc32c_detail {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected 0x1EDC6F41

using Table = std::array<std::uint32_t, 256>;

constexpr std::array<Table, 8> make_slicing_tables() {
  std::array<Table, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? kPoly : 0u);
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xffu];
  return t;
}

constexpr std::array<Table, 8> kTables = make_slicing_tables();

inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Advances a raw (non-inverted) CRC register over one zero byte.
constexpr std::uint32_t advance_zero_byte(std::uint32_t c) { return (c >> 8) ^ kTables[0][c & 0xffu]; }

// The linear map "advance the raw register over L zero bytes", as four byte
// tables: shift(x) = t[0][x & 0xff] ^ t[1][(x >> 8) & 0xff] ^ ...
template <std::size_t L>
constexpr std::array<Table, 4> make_shift_tables() {
  std::array<std::uint32_t, 32> basis{};
  for (int b = 0; b < 32; ++b) {
    std::uint32_t c = 1u << b;
    for (std::size_t i = 0; i < L; ++i) c = advance_zero_byte(c);
    basis[static_cast<std::size_t>(b)] = c;
  }
  std::array<Table, 4> t{};
  for (std::size_t k = 0; k < 4; ++k)
    for (std::uint32_t v = 0; v < 256; ++v) {
      std::uint32_t r = 0;
      for (int b = 0; b < 8; ++b)
        if (v & (1u << b)) r ^= basis[k * 8 + static_cast<std::size_t>(b)];
      t[k][v] = r;
    }
  return t;
}

// Built once, on first use (a constant expression this large exceeds clang's
// constexpr step limit).
template <std::size_t L>
struct Shift {
  static const std::array<Table, 4>& tables() noexcept {
    static const std::array<Table, 4> t = make_shift_tables<L>();
    return t;
  }
  static std::uint32_t apply(std::uint32_t x) noexcept {
    const auto& t = tables();
    return t[0][x & 0xffu] ^ t[1][(x >> 8) & 0xffu] ^ t[2][(x >> 16) & 0xffu] ^ t[3][x >> 24];
  }
};

// Lane lengths of the interleaved hardware path (multiples of 8).
constexpr std::size_t kLongLane = 4096;
constexpr std::size_t kShortLane = 256;

#if RUNLOG_CRC32C_HAVE_SSE42
// Consumes one block of three lanes of L bytes from *p; returns the new raw register.
template <std::size_t L>
__attribute__((target("sse4.2"))) inline std::uint64_t hw_three_lanes(std::uint64_t c,
                                                                      const unsigned char* p) noexcept {
  std::uint64_t a = c, b = 0, d = 0;
  const unsigned char* pa = p;
  const unsigned char* pb = p + L;
  const unsigned char* pd = p + 2 * L;
  for (std::size_t i = 0; i < L; i += 8) {
    a = _mm_crc32_u64(a, load_le64(pa + i));
    b = _mm_crc32_u64(b, load_le64(pb + i));
    d = _mm_crc32_u64(d, load_le64(pd + i));
  }
  std::uint32_t r = Shift<L>::apply(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b);
  r = Shift<L>::apply(r) ^ static_cast<std::uint32_t>(d);
  return r;
}
#endif

}  // namespace

std::uint32_t extend_table(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (n >= 8) {
    const std::uint64_t w = load_le64(p) ^ c;
    c = kTables[7][w & 0xffu] ^ kTables[6][(w >> 8) & 0xffu] ^ kTables[5][(w >> 16) & 0xffu] ^
        kTables[4][(w >> 24) & 0xffu] ^ kTables[3][(w >> 32) & 0xffu] ^ kTables[2][(w >> 40) & 0xffu] ^
        kTables[1][(w >> 48) & 0xffu] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xffu];
  return ~c;
}

#if RUNLOG_CRC32C_HAVE_SSE42
bool hardware_available() noexcept {
  __builtin_cpu_init();  // may run before the libgcc constructor that fills the cpu model
  return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                                                                std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = static_cast<std::uint32_t>(~crc);
  while (n >= 3 * kLongLane) {
    c = hw_three_lanes<kLongLane>(c, p);
    p += 3 * kLongLane;
    n -= 3 * kLongLane;
  }
  while (n >= 3 * kShortLane) {
    c = hw_three_lanes<kShortLane>(c, p);
    p += 3 * kShortLane;
    n -= 3 * kShortLane;
  }
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_le64(p));
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#else
bool hardware_available() noexcept { return false; }
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_table(crc, data, n);
}
#endif

}  // namespace crc32c_detail

namespace {
using ExtendFn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t) noexcept;

ExtendFn chosen_impl() noexcept {
  static const ExtendFn fn =
      crc32c_detail::hardware_available() ? &crc32c_detail::extend_hardware : &crc32c_detail::extend_table;
  return fn;
}
}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return chosen_impl()(crc, data, n);
}

namespace {
// Multiplication modulo the polynomial in GF(2), reflected.
constexpr std::uint32_t mult_mod_p(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ crc32c_detail::kPoly : b >> 1;
  }
  return p;
}

struct PowersOfX {
  std::uint32_t x2n[32];  // x^(2^n) mod p
  constexpr PowersOfX() : x2n() {
    std::uint32_t p = 1u << 30;  // x^1
    x2n[0] = p;
    for (int n = 1; n < 32; ++n) x2n[n] = p = mult_mod_p(p, p);
  }
};
constexpr PowersOfX kPowers;
}  // namespace

std::uint32_t crc32c_shift(std::uint32_t crc, std::uint64_t n) noexcept {
  std::uint32_t p = 1u << 31;  // x^0
  for (unsigned k = 3; n != 0; n >>= 1, ++k)
    if (n & 1) p = mult_mod_p(kPowers.x2n[k & 31], p);
  return mult_mod_p(p, crc);
}

bool crc32c_is_hardware() noexcept { return chosen_impl() == &crc32c_detail::extend_hardware; }

}  // namespace runlog
