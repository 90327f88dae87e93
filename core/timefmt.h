// core/timefmt.h — timestamps as JavaScript's Date.prototype.toISOString writes
// them: "2026-11-21T10:17:00.123Z" (UTC, milliseconds, always 24 bytes for
// years 0000..9999). Thread-safe, allocation-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace runlog {

inline constexpr std::size_t kIsoLength = 24;

/// Milliseconds since the Unix epoch, from CLOCK_REALTIME.
std::int64_t now_unix_ms() noexcept;
/// Writes the 24 bytes of the ISO form of `unix_ms` to out. REQUIRES: year 0..9999.
void format_iso_ms(std::int64_t unix_ms, char* out) noexcept;
std::string iso_ms(std::int64_t unix_ms);
/// Parses exactly the 24-byte form above; nullopt otherwise.
std::optional<std::int64_t> parse_iso_ms(std::string_view s) noexcept;

}  // namespace runlog
