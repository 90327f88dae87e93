// core/timefmt.h — timestamps as JavaScript's Date.prototype.toISOString writes
// them: "2026-11-21T10:17:00.123Z" (UTC, milliseconds, always 24 bytes for
// years 0000..9999). Thread-safe, allocation-free.
#pragma once

#include <cstdint>
#include <cstring>
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

/// The range format_iso_ms writes: 0000-01-01T00:00:00.000Z to
/// 9999-12-31T23:59:59.999Z; times outside it are clamped to it.
inline constexpr std::int64_t kIsoMinMs = -62'167'219'200'000;
inline constexpr std::int64_t kIsoMaxMs = 253'402'300'799'999;

namespace timefmt_detail {
struct Millis {  // "000Z" "001Z" ... "999Z"
  char d[4000];
  constexpr Millis() : d() {
    for (int i = 0; i < 1000; ++i) {
      d[4 * i] = static_cast<char>('0' + i / 100);
      d[4 * i + 1] = static_cast<char>('0' + i / 10 % 10);
      d[4 * i + 2] = static_cast<char>('0' + i % 10);
      d[4 * i + 3] = 'Z';
    }
  }
};
inline constexpr Millis kMillis{};
}  // namespace timefmt_detail

/// format_iso_ms for a caller that formats many times of one second (the
/// sequencer: once per record): it keeps the text up to the second from the
/// last call, so a call in the same second writes only the milliseconds. Not
/// thread-safe: one object per thread (the sequencer's is the sequencer's).
class IsoMsCache {
 public:
  void format(std::int64_t unix_ms, char* out) noexcept {
    std::int64_t second = unix_ms / 1000;
    auto ms = static_cast<int>(unix_ms % 1000);
    if (ms < 0) {  // before 1970: the second is the floor
      ms += 1000;
      --second;
    }
    if (second != second_) {
      if (unix_ms < kIsoMinMs || unix_ms > kIsoMaxMs) {  // clamped: not kept
        format_iso_ms(unix_ms, out);
        return;
      }
      format_iso_ms(unix_ms, head_);
      second_ = second;
    }
    std::memcpy(out, head_, 20);
    std::memcpy(out + 20, timefmt_detail::kMillis.d + 4 * ms, 4);
  }

 private:
  std::int64_t second_ = INT64_MIN;
  char head_[kIsoLength] = {};
};

/// Parses exactly the 24-byte form above; nullopt otherwise.
std::optional<std::int64_t> parse_iso_ms(std::string_view s) noexcept;

}  // namespace runlog
