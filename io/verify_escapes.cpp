// io/verify_escapes.cpp — canonical string escapes (as JSON.stringify
// writes them), checked 64 bytes at a time.
#include "io/verify_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstring>

namespace runlog::io::verify_detail {

namespace {


// Escapes in the raw content of a JSON string, as JSON.stringify writes them:
// \" \\ \b \f \n \r \t, \u00xx (lowercase) only for other bytes below 0x20.
// Stage 1 of the parser has already refused unescaped control bytes and
// invalid UTF-8. escape_at() judges the escape at s[at] (a backslash): its
// length, or 0 with *what set.
std::size_t escape_at(const char* s, std::size_t n, std::size_t at, std::string* what) {
  if (at + 1 >= n) {
    *what = "invalid escape at the end of a string";
    return 0;
  }
  switch (s[at + 1]) {
    case '"':
    case '\\':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      return 2;
    case 'u': {
      if (n - at < 6) {
        *what = "invalid \\u escape at byte " + std::to_string(at);
        return 0;
      }
      unsigned v = 0;
      bool lower = true, hex = true;
      for (std::size_t i = 2; i < 6; ++i) {
        const char c = s[at + i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10), lower = false;
        else hex = false;
      }
      if (!hex) {
        *what = "invalid \\u escape at byte " + std::to_string(at);
        return 0;
      }
      if (!lower || v >= 0x20 || v == 0x08 || v == 0x09 || v == 0x0a || v == 0x0c || v == 0x0d) {
        *what = "escape " + shown(std::string_view(s + at, 6)) + " at byte " + std::to_string(at) +
                " is not as JSON.stringify writes it";
        return 0;
      }
      return 6;
    }
    case '/':
      *what = "escape \"\\/\" at byte " + std::to_string(at) + " is not as JSON.stringify writes it";
      return 0;
    default:
      *what = "invalid escape " + shown(std::string_view(s + at, 2)) + " at byte " + std::to_string(at);
      return 0;
  }
}

// The escapes of a string are checked 64 bytes at a time, without a branch
// per escape (log text is dense with \n, \t and \"): the escaped characters
// are found as simdjson's stage 1 finds them (odd runs of backslashes) and all
// checked at once against " \ b f n r t u; only \u escapes, rare, and bad
// ones are looked at one by one (escape_at). Block64 gives the masks of one
// block: AVX2 where the CPU has it (chosen at run time: the build has no
// -march), SSE2 otherwise.
struct Masks {
  std::uint64_t backslash, escapable, u;
};

// Runs the block loop over s[0..n) with `masks(p)` for 64 readable bytes at p.
template <class MasksOf>
[[gnu::always_inline]] inline std::string scan_escapes(const char* s, std::size_t n, MasksOf masks) {
  std::string what;
  std::uint64_t carry = 0;  // 1: the next block's first byte is escaped
  alignas(32) char tail[64];
  for (std::size_t i = 0; i < n; i += 64) {
    const char* p = s + i;
    std::uint64_t live = ~std::uint64_t{0};
    if (n - i < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, p, n - i);
      p = tail;
      live = (std::uint64_t{1} << (n - i)) - 1;
    }
    const Masks m = masks(p);
    std::uint64_t backslash = m.backslash;
    if (backslash == 0 && carry == 0) continue;
    backslash &= ~carry;
    const std::uint64_t follows = backslash << 1 | carry;
    constexpr std::uint64_t kEven = 0x5555555555555555ull;
    const std::uint64_t odd_starts = backslash & ~kEven & ~follows;
    std::uint64_t even_starts = 0;
    carry = __builtin_add_overflow(odd_starts, backslash, &even_starts) ? 1 : 0;
    const std::uint64_t escaped = (kEven ^ (even_starts << 1)) & follows & live;
    std::uint64_t check = (escaped & ~m.escapable) | (escaped & m.u);
    while (check != 0) {  // a bad escape, or a \u one
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctzll(check)) - 1;
      if (escape_at(s, n, at, &what) == 0) return what;
      check &= check - 1;
    }
  }
  return {};
}

#if defined(__x86_64__)
// " \ b f n r t u by nibbles (pshufb): bit k of lo[c & 15] & hi[c >> 4].
//   hi nibble 2 -> 1, 5 -> 2, 6 -> 4, 7 -> 8
//   lo nibble 2: 0x22 0x62 0x72; 4: 0x74; 5: 0x75; 6: 0x66; c: 0x5c; e: 0x6e
#define RUNLOG_ESC_LO 0, 0, 13, 0, 8, 8, 4, 0, 0, 0, 0, 0, 2, 0, 4, 0
#define RUNLOG_ESC_HI 0, 0, 1, 0, 0, 2, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0

struct MasksAvx2 {
  __attribute__((target("avx2"))) Masks operator()(const char* p) const {
    const __m256i lo_tbl = _mm256_setr_epi8(RUNLOG_ESC_LO, RUNLOG_ESC_LO);
    const __m256i hi_tbl = _mm256_setr_epi8(RUNLOG_ESC_HI, RUNLOG_ESC_HI);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    Masks m{0, 0, 0};
    for (int j = 0; j < 2; ++j) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * j));
      const __m256i lo = _mm256_shuffle_epi8(lo_tbl, _mm256_and_si256(v, nib));
      const __m256i hi = _mm256_shuffle_epi8(hi_tbl, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
      const __m256i out_of_set = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
      const std::uint64_t shift = 32 * static_cast<std::uint64_t>(j);
      m.backslash |= std::uint64_t{static_cast<std::uint32_t>(
                         _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))))}
                     << shift;
      m.escapable |= std::uint64_t{~static_cast<std::uint32_t>(_mm256_movemask_epi8(out_of_set))} << shift;
      m.u |= std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('u'))))}
             << shift;
    }
    return m;
  }
};

__attribute__((target("avx2"))) std::string check_escapes_avx2(const char* s, std::size_t n) {
  return scan_escapes(s, n, MasksAvx2{});
}
#undef RUNLOG_ESC_LO
#undef RUNLOG_ESC_HI

std::string check_escapes_sse2(const char* s, std::size_t n) {
  return scan_escapes(s, n, [](const char* p) {
    Masks m{0, 0, 0};
    for (int j = 0; j < 4; ++j) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * j));
      __m128i a = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
      for (char c : {'b', 'f', 'n', 'r', 't'}) a = _mm_or_si128(a, _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
      const __m128i bs = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
      const __m128i u = _mm_cmpeq_epi8(v, _mm_set1_epi8('u'));
      a = _mm_or_si128(a, _mm_or_si128(bs, u));
      const auto bits = [](__m128i x) {
        return static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(x)));
      };
      m.backslash |= bits(bs) << (16 * j);
      m.escapable |= bits(a) << (16 * j);
      m.u |= bits(u) << (16 * j);
    }
    return m;
  });
}
#endif

// Returns "" or what is wrong with the escapes of `raw`.

}  // namespace

std::string check_escapes(std::string_view raw) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? check_escapes_avx2(raw.data(), raw.size()) : check_escapes_sse2(raw.data(), raw.size());
#else
  return scan_escapes(raw.data(), raw.size(), [](const char* p) {
    Masks m{0, 0, 0};
    for (int i = 0; i < 64; ++i) {
      const char c = p[i];
      const std::uint64_t bit = std::uint64_t{1} << i;
      if (c == '\\') m.backslash |= bit;
      if (c == 'u') m.u |= bit;
      if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't' || c == 'u')
        m.escapable |= bit;
    }
    return m;
  });
#endif
}

}  // namespace runlog::io::verify_detail
