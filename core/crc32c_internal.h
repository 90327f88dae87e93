// core/crc32c_internal.h — the two implementations behind crc32c_extend(), for
// tests and benchmarks that compare them. Not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runlog::crc32c_detail {

/// Portable slicing-by-8 implementation. Same contract as crc32c_extend().
std::uint32_t extend_table(std::uint32_t crc, const void* data, std::size_t n) noexcept;

/// Whether this CPU has the SSE4.2 crc32 instruction (and the build is x86-64).
bool hardware_available() noexcept;

/// SSE4.2 implementation. REQUIRES: hardware_available().
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept;

}  // namespace runlog::crc32c_detail
