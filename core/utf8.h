// core/utf8.h — JSON string escaping with UTF-8 sanitizing, in one pass.
//
// Escapes exactly as JavaScript's JSON.stringify does for a string: `"` and `\`
// get a backslash; \b \f \n \r \t their short forms; other bytes below 0x20 are
// \u00XX (lowercase hex); everything else, DEL and U+2028/9 included, as is.
// Bytes that are not valid UTF-8 become U+FFFD following the WHATWG decoder
// ("maximal subpart": each maximal ill-formed prefix becomes one U+FFFD), which
// is what Node shows for Buffer.toString('utf8') / TextDecoder.
// Thread-safe, allocation-free.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace runlog {

/// The most bytes json_escape_utf8() can write for n input bytes.
constexpr std::size_t json_escape_bound(std::size_t n) noexcept { return 6 * n; }

/// Writes the escaped, sanitized form of in[0..n) (without quotes) to `out`,
/// returns the end of what was written. *valid (if given) is set to whether
/// in[0..n) was entirely valid UTF-8.
/// REQUIRES: out has room for json_escape_bound(n) bytes.
char* json_escape_utf8(const char* in, std::size_t n, char* out, bool* valid = nullptr) noexcept;

/// The length (0..3) of a trailing incomplete multi-byte sequence at the end of
/// in[0..n): bytes that are a valid prefix of a UTF-8 character and that more
/// bytes could complete. A chunk's tail of this length is carried to the next
/// chunk of the same channel.
std::size_t utf8_incomplete_tail(const char* in, std::size_t n) noexcept;

/// The largest k <= max such that in[0..k) ends on a character boundary (k is
/// not inside a well-formed multi-byte sequence), for splitting an oversized
/// chunk. Returns max when in[max] starts a character or the bytes around it
/// are ill-formed; never less than max - 3 unless max < 4, and never 0 when max > 0.
/// REQUIRES: max <= n.
/// Precisely: when in[max] is a continuation byte inside a maximal subpart (a
/// well-formed sequence, or an ill-formed prefix that decodes to one U+FFFD)
/// that starts at j in [max-3, max), returns j (max if j == 0); otherwise max.
/// Except in that j == 0 case, decoding in[0..k) and in[k..n) separately gives
/// exactly the text of in[0..n).
std::size_t utf8_split_point(const char* in, std::size_t n, std::size_t max) noexcept;

/// Appends `"` + the escaped, sanitized form of s + `"` to *out (for meta.json and
/// other cold paths).
void append_json_string(std::string* out, std::string_view s);

/// Whether in[0..n) is valid UTF-8 (simdjson's validator: SIMD, runtime dispatch).
bool utf8_is_valid(const char* in, std::size_t n) noexcept;

}  // namespace runlog
