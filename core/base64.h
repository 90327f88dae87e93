// core/base64.h — RFC 4648 base64 with padding (what Node's
// Buffer.toString('base64') writes), for the `bytes` field of chunks whose
// bytes were not valid UTF-8. Thread-safe, allocation-free except decode's output.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace runlog {

constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }
/// Writes base64_encoded_size(n) bytes to out; returns the end.
char* base64_encode(const void* in, std::size_t n, char* out) noexcept;
/// Decodes (padding required, no whitespace). Appends to *out; false on bad input.
/// Only canonical encodings are accepted (non-zero bits left over before the padding
/// are bad input, as is the base64url alphabet); *out is unchanged on failure.
bool base64_decode(std::string_view in, std::string* out);

}  // namespace runlog
