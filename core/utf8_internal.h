// core/utf8_internal.h — the two implementations behind json_escape_utf8(),
// for tests and benchmarks that compare them. Not part of the public API.
#pragma once

#include <cstddef>

namespace runlog::utf8_detail {

/// Escapes ASCII blocks with special bytes in them one special byte at a time
/// (SSE2, or 8-byte words without it). Same contract as json_escape_utf8().
char* escape_portable(const char* in, std::size_t n, char* out, bool* valid) noexcept;

/// Whether this CPU has SSSE3 (and the build is x86-64).
bool shuffle_available() noexcept;

/// Expands ASCII blocks whose special bytes all have two-byte escapes with one
/// byte shuffle per 8 bytes. REQUIRES: shuffle_available().
char* escape_shuffle(const char* in, std::size_t n, char* out, bool* valid) noexcept;

}  // namespace runlog::utf8_detail
