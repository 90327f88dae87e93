// core/utf8.cpp — JSON string escaping with WHATWG UTF-8 sanitizing.
//
// json_escape_utf8 is on the writer's hot path. Its common case is a run of
// printable ASCII that needs no escaping: it is found 16 bytes at a time with
// SSE2 (baseline on x86-64; an 8-byte SWAR scan elsewhere) and copied with one
// unaligned store per 16 bytes (store first, then advance only past the plain
// prefix: the output bound of 6 bytes per input byte leaves room for it). A
// block of ASCII with special bytes in it (below 0x20, '"', '\\') is escaped
// without leaving the vector loop: with SSSE3 (chosen once at run time), by
// one byte shuffle per 8 bytes when all its specials have two-byte escapes;
// otherwise each special from the block's one mask. At a byte of 0x80 and
// above a scalar step validates UTF-8, then the fast scan resumes.
//
// The UTF-8 validation follows the Unicode/WHATWG table of well-formed
// sequences: after lead E0 the second byte is A0..BF, after ED 80..9F (no
// surrogates), after F0 90..BF, after F4 80..8F (nothing above U+10FFFF); other
// second bytes and all later ones are 80..BF. A lead byte followed by a byte
// outside its range, or by the end of input, gives one U+FFFD for the bytes
// accepted so far (the "maximal subpart"), and decoding resumes at the byte
// that did not fit. Bytes 80..C1 and F5..FF on their own give one U+FFFD each.
#include "utf8.h"
#include "utf8_internal.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <tmmintrin.h>
#endif

namespace runlog {
namespace {

// What a byte means as the first byte of a sequence.
struct LeadInfo {
  std::uint8_t len;  // 1: ASCII, 2..4: multi-byte lead, 0: never valid as a first byte
  std::uint8_t lo;   // range of the second byte (multi-byte leads only)
  std::uint8_t hi;
};

constexpr std::array<LeadInfo, 256> make_lead_table() {
  std::array<LeadInfo, 256> t{};
  for (unsigned b = 0; b < 256; ++b) {
    LeadInfo li{0, 0x80, 0xBF};
    if (b < 0x80) li.len = 1;
    else if (b >= 0xC2 && b <= 0xDF) li.len = 2;
    else if (b >= 0xE0 && b <= 0xEF) li.len = 3;
    else if (b >= 0xF0 && b <= 0xF4) li.len = 4;
    if (b == 0xE0) li.lo = 0xA0;
    if (b == 0xED) li.hi = 0x9F;
    if (b == 0xF0) li.lo = 0x90;
    if (b == 0xF4) li.hi = 0x8F;
    t[b] = li;
  }
  return t;
}

constexpr std::array<LeadInfo, 256> kLead = make_lead_table();

inline bool is_cont(unsigned char b) noexcept { return (b & 0xC0) == 0x80; }

// The length of the maximal subpart starting at p[0] (a multi-byte lead): how
// many bytes of p[0..avail) form a well-formed sequence or a prefix of one.
// Returns li.len when the sequence is complete. REQUIRES: avail >= 1, li.len >= 2.
inline std::size_t subpart_len(const unsigned char* p, std::size_t avail, const LeadInfo& li) noexcept {
  if (avail < 2 || p[1] < li.lo || p[1] > li.hi) return 1;
  std::size_t k = 2;
  while (k < li.len && k < avail && is_cont(p[k])) ++k;
  return k;
}

// Escapes of the bytes below 0x20, as JSON.stringify writes them: 6 bytes of
// text (the tail of the short forms unused) and a length.
struct CtrlEscape {
  char text[6];
  std::uint8_t len;
};

constexpr std::array<CtrlEscape, 32> make_ctrl_table() {
  std::array<CtrlEscape, 32> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (unsigned c = 0; c < 32; ++c) {
    CtrlEscape e{{'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]}, 6};
    char s = 0;
    switch (c) {
      case '\b': s = 'b'; break;
      case '\t': s = 't'; break;
      case '\n': s = 'n'; break;
      case '\f': s = 'f'; break;
      case '\r': s = 'r'; break;
      default: break;
    }
    if (s) e = CtrlEscape{{'\\', s, 0, 0, 0, 0}, 2};
    t[c] = e;
  }
  return t;
}

constexpr std::array<CtrlEscape, 32> kCtrl = make_ctrl_table();

// Whether an ASCII-range byte passes through unchanged.
inline bool plain_byte(unsigned char b) noexcept { return b >= 0x20 && b < 0x80 && b != '"' && b != '\\'; }

inline char* put_replacement(char* out) noexcept {
  out[0] = static_cast<char>(0xEF);
  out[1] = static_cast<char>(0xBF);
  out[2] = static_cast<char>(0xBD);
  return out + 3;
}

// Writes the escape of an ASCII special byte (below 0x20, '"' or '\\').
// REQUIRES: room for 6 bytes at out.
inline char* put_ascii_escape(char* out, unsigned char c) noexcept {
  if (c < 0x20) {
    const CtrlEscape& e = kCtrl[c];
    std::memcpy(out, e.text, 6);
    return out + e.len;
  }
  out[0] = '\\';
  out[1] = static_cast<char>(c);
  return out + 2;
}

// Copies n <= 16 bytes from `from` to `to`: as one 16-byte move when 16
// bytes can be read there (input ends at `end`), exactly n otherwise.
// REQUIRES: room for 16 bytes at `to`.
inline void copy_upto16(char* to, const unsigned char* from, std::size_t n, const unsigned char* end) noexcept {
  if (end - from >= 16) std::memcpy(to, from, 16);
  else std::memcpy(to, from, n);
}

#if !defined(__SSE2__)
// SWAR: a word whose 0x80 bit is set in the bytes of v that are special. Bits
// above the first special byte may be spurious, the lowest one is exact.
inline std::uint64_t special_bytes_swar(std::uint64_t v) noexcept {
  constexpr std::uint64_t k01 = 0x0101010101010101ull;
  constexpr std::uint64_t k80 = 0x8080808080808080ull;
  const std::uint64_t lt20 = v - k01 * 0x20;  // high bit set where byte < 0x20 (or borrowed into)
  const std::uint64_t xq = v ^ (k01 * '"');
  const std::uint64_t xb = v ^ (k01 * '\\');
  const std::uint64_t eq = (xq - k01) | (xb - k01);
  return ((lt20 | eq) & ~v & k80) | (v & k80);
}
#endif

#if defined(__SSE2__)
// How an ASCII block of 16 bytes with special bytes in it (`mask`, one bit per
// byte) is escaped: writes its escaped form at `out`, returns the new end.
// REQUIRES: room for 6 x 16 bytes at out; p[0..16) readable (end - p >= 16).

// SSE2: each special byte from the one mask, with the plain runs between them
// copied 16 bytes at a time (the output bound leaves room). Leaving the vector
// loop at each special byte instead cost a mispredicted branch per escape.
struct Sse2Blocks {
  static char* ascii_block(__m128i /*v*/, unsigned mask, const unsigned char* p, char* out,
                           const unsigned char* end) noexcept {
    unsigned pos = 0;
    do {
      const auto k = static_cast<unsigned>(__builtin_ctz(mask));
      copy_upto16(out, p + pos, k - pos, end);
      out += k - pos;
      out = put_ascii_escape(out, p[k]);
      pos = k + 1;
      mask &= mask - 1;
    } while (mask != 0);
    copy_upto16(out, p + pos, 16 - pos, end);
    return out + (16 - pos);
  }
};

// Per 8-bit mask of a half: output byte j comes from input byte shuffle[j]
// (0x80: zero, past the output); first[j] is 0xFF where output byte j is the
// backslash of an escape; len is 8 + the specials in the half.
struct Expansions {
  alignas(16) std::uint8_t shuffle[256][16];
  alignas(16) std::uint8_t first[256][16];
  std::uint8_t len[256];
};

constexpr Expansions make_expansions() {
  Expansions t{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned j = 0;
    for (unsigned i = 0; i < 8; ++i) {
      t.shuffle[m][j] = static_cast<std::uint8_t>(i);
      if (m & (1u << i)) {
        t.first[m][j] = 0xFF;
        t.shuffle[m][++j] = static_cast<std::uint8_t>(i);
      }
      ++j;
    }
    for (; j < 16; ++j) t.shuffle[m][j] = 0x80;
    t.len[m] = static_cast<std::uint8_t>(8 + __builtin_popcount(m));
  }
  return t;
}

alignas(64) constexpr Expansions kExpansions = make_expansions();

// The letter of each two-byte control escape by the byte's low nibble (bytes
// below 0x10), and which of those bytes have one.
alignas(16) constexpr std::uint8_t kCtrlLetter[16] = {0, 0, 0, 0, 0, 0, 0, 0, 'b', 't', 'n', 0, 'f', 'r', 0, 0};
alignas(16) constexpr std::uint8_t kCtrlShort[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0, 0};

// SSSE3: when every special byte of the block has a two-byte escape (`\"`,
// `\\`, `\b`, `\t`, `\n`, `\f`, `\r`), each 8-byte half is expanded by one
// byte shuffle (each special byte doubled, from a table indexed by the half's
// 8-bit mask), its first copies set to `\` and its second mapped to the
// escape's letter: no branch per special byte. Other control bytes
// (`\u00XX`) take the SSE2 path.
struct Ssse3Blocks {
  __attribute__((target("ssse3"))) static char* ascii_block(__m128i v, unsigned mask, const unsigned char* p,
                                                             char* out, const unsigned char* end) noexcept {
    const __m128i ctrl = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    const __m128i short_ctrl =
        _mm_and_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x10)),
                      _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kCtrlShort)), v));
    if (_mm_movemask_epi8(_mm_andnot_si128(short_ctrl, ctrl)) != 0) return Sse2Blocks::ascii_block(v, mask, p, out, end);
    // Each control byte to its letter ('"' and '\\' are their own), then
    // each half expanded: every special byte doubled, its first copy `\\`.
    const __m128i letters = _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(kCtrlLetter)), v);
    const __m128i m = _mm_or_si128(_mm_andnot_si128(ctrl, v), _mm_and_si128(ctrl, letters));
    const __m128i bslash = _mm_set1_epi8('\\');
    const unsigned lo = mask & 0xFF;
    const unsigned hi = mask >> 8;
    const __m128i x0 = _mm_shuffle_epi8(m, _mm_load_si128(reinterpret_cast<const __m128i*>(kExpansions.shuffle[lo])));
    const __m128i f0 = _mm_load_si128(reinterpret_cast<const __m128i*>(kExpansions.first[lo]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_or_si128(_mm_andnot_si128(f0, x0), _mm_and_si128(f0, bslash)));
    out += kExpansions.len[lo];
    // Bytes 8..15: the same table, its indices + 8 (0x80 stays >= 0x80: zero).
    const __m128i s1 = _mm_or_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(kExpansions.shuffle[hi])),
                                    _mm_set1_epi8(8));
    const __m128i x1 = _mm_shuffle_epi8(m, s1);
    const __m128i f1 = _mm_load_si128(reinterpret_cast<const __m128i*>(kExpansions.first[hi]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm_or_si128(_mm_andnot_si128(f1, x1), _mm_and_si128(f1, bslash)));
    return out + kExpansions.len[hi];
  }
};
#endif

// The escaper, for one way of escaping ASCII blocks (Blocks; unused without
// SSE2). Inlined into each entry point below, so Ssse3Blocks' code is
// compiled inside a function that has SSSE3.
template <class Blocks>
__attribute__((always_inline)) inline char* escape_with(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  const unsigned char* const end = p + n;
  bool ok = true;

  for (;;) {
    // Fast scan over plain ASCII. Leaves p at a special byte or at the end.
#if defined(__SSE2__)
    {
      const __m128i lim = _mm_set1_epi8(0x20);
      const __m128i quote = _mm_set1_epi8('"');
      const __m128i bslash = _mm_set1_epi8('\\');
      while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), v);
        // Signed compare: bytes 0x00..0x1F and 0x80..0xFF are "less than 0x20".
        const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, lim),
                                             _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask == 0) {
          p += 16;
          out += 16;
          continue;
        }
        if (_mm_movemask_epi8(v) == 0) {
          // ASCII only: every special byte of the block is escaped in one step
          // (Blocks), without leaving the vector loop: W2's text escapes every
          // ~13 bytes, `seq`'s output every ~8.
          out = Blocks::ascii_block(v, mask, p, out, end);
          p += 16;
          continue;
        }
        const auto k = static_cast<unsigned>(__builtin_ctz(mask));
        p += k;
        out += k;
        goto special;
      }
    }
#else
    while (end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      std::memcpy(out, p, 8);
      const std::uint64_t m = special_bytes_swar(v);
      if (m == 0) {
        p += 8;
        out += 8;
        continue;
      }
      // Byte order: the first byte in memory is the lowest on little-endian.
      const unsigned k = (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) ? static_cast<unsigned>(__builtin_ctzll(m)) / 8
                                                                     : static_cast<unsigned>(__builtin_clzll(m)) / 8;
      p += k;
      out += k;
      goto special;
    }
#endif
    while (p < end && plain_byte(*p)) *out++ = static_cast<char>(*p++);
    if (p == end) break;

  special:
    // p < end and *p is special.
    if (*p < 0x80) {
      out = put_ascii_escape(out, *p++);
      continue;
    }
    // Non-ASCII: stay here while bytes are non-ASCII (text in other scripts).
    do {
      const LeadInfo& li = kLead[*p];
      const auto avail = static_cast<std::size_t>(end - p);
      if (li.len >= 2) {
        const std::size_t k = subpart_len(p, avail, li);
        if (k == li.len) {
          // Well-formed: copy as is (at most 4 bytes; room is 6 per input byte).
          std::memcpy(out, p, 4 <= avail ? 4 : k);
          out += k;
          p += k;
          continue;
        }
        p += k;
      } else {
        ++p;  // 0x80..0xC1, 0xF5..0xFF
      }
      ok = false;
      out = put_replacement(out);
    } while (p < end && *p >= 0x80);
    if (p == end) break;
  }

  if (valid) *valid = ok;
  return out;
}

}  // namespace

namespace utf8_detail {
#if defined(__SSE2__)
char* escape_portable(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  return escape_with<Sse2Blocks>(in, n, out, valid);
}
bool shuffle_available() noexcept {
  __builtin_cpu_init();  // may run before the libgcc constructor that fills the cpu model
  return __builtin_cpu_supports("ssse3");
}
__attribute__((target("ssse3"))) char* escape_shuffle(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  return escape_with<Ssse3Blocks>(in, n, out, valid);
}
#else
struct NoBlocks {};
char* escape_portable(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  return escape_with<NoBlocks>(in, n, out, valid);
}
bool shuffle_available() noexcept { return false; }
char* escape_shuffle(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  return escape_portable(in, n, out, valid);
}
#endif
}  // namespace utf8_detail

namespace {
using EscapeFn = char* (*)(const char*, std::size_t, char*, bool*) noexcept;

EscapeFn chosen_escape() noexcept {
  static const EscapeFn fn =
      utf8_detail::shuffle_available() ? &utf8_detail::escape_shuffle : &utf8_detail::escape_portable;
  return fn;
}
}  // namespace

char* json_escape_utf8(const char* in, std::size_t n, char* out, bool* valid) noexcept {
  return chosen_escape()(in, n, out, valid);
}

std::size_t utf8_incomplete_tail(const char* in, std::size_t n) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = p[n - back];
    if (is_cont(c)) continue;
    // The last byte that is not a continuation byte starts the last sequence.
    const LeadInfo& li = kLead[c];
    if (li.len <= back) return 0;  // ASCII, a byte that is never a lead, or complete
    if (subpart_len(p + (n - back), back, li) != back) return 0;  // ill-formed already
    return back;
  }
  return 0;
}

std::size_t utf8_split_point(const char* in, std::size_t n, std::size_t max) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  if (max >= n || !is_cont(p[max])) return max;
  for (std::size_t back = 1; back <= 3 && back <= max; ++back) {
    const unsigned char c = p[max - back];
    if (is_cont(c)) continue;
    const std::size_t j = max - back;
    const LeadInfo& li = kLead[c];
    if (li.len < 2) return max;
    // Keep the sequence (or the ill-formed prefix that decodes to one U+FFFD)
    // that starts at j and reaches past max in one piece: split before it.
    // Then both pieces decode exactly as the whole does.
    if (j + subpart_len(p + j, n - j, li) > max) return j > 0 ? j : max;
    return max;
  }
  return max;
}

void append_json_string(std::string* out, std::string_view s) {
  const std::size_t old = out->size();
  out->resize(old + json_escape_bound(s.size()) + 2);
  char* w = out->data() + old;
  *w++ = '"';
  w = json_escape_utf8(s.data(), s.size(), w);
  *w++ = '"';
  out->resize(static_cast<std::size_t>(w - out->data()));
}

bool utf8_is_valid(const char* in, std::size_t n) noexcept { return simdjson::validate_utf8(in, n); }

}  // namespace runlog
