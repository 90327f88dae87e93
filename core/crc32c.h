// core/crc32c.h — CRC32C (Castagnoli), as every runlog line carries it.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time: the default build has no -march flags), a table otherwise.
// Thread-safe, allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runlog {

/// Extends `crc` (0 to start) over data[0..n). crc32c_extend(0, "123456789", 9)
/// == 0xe3069283, and extend(extend(0, a), b) == extend(0, a+b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
inline std::uint32_t crc32c(const void* data, std::size_t n) noexcept { return crc32c_extend(0, data, n); }

/// Writes the 8 lowercase hex digits of `crc` to out[0..8).
void crc32c_hex(std::uint32_t crc, char* out) noexcept;
/// Parses 8 lowercase hex digits; false on anything else.
bool parse_crc32c_hex(const char* in, std::uint32_t* crc) noexcept;

/// Whether the hardware path is in use (for benchmarks and --version).
bool crc32c_is_hardware() noexcept;

}  // namespace runlog
