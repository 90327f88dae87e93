// core/timefmt.cpp — "YYYY-MM-DDTHH:MM:SS.sssZ" without gmtime_r or locales.
//
// Day numbers <-> civil dates use Howard Hinnant's days_from_civil /
// civil_from_days (proleptic Gregorian calendar, as JavaScript's Date uses),
// which are exact for every year and branch-light. format_iso_ms runs once per
// record: it also keeps the date of the last day it formatted in one atomic
// word, so most calls only split the time of day into digits.
#include "timefmt.h"

#include <time.h>

#include <atomic>
#include <cstring>

namespace runlog {
namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::int64_t kMinMs = kIsoMinMs;
constexpr std::int64_t kMaxMs = kIsoMaxMs;

constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);              // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(days_from_civil(0, 1, 1) * kMsPerDay == kMinMs);

constexpr bool is_leap(std::int64_t y) noexcept { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

struct DigitPairs {
  char d[200];
  constexpr DigitPairs() : d() {
    for (int i = 0; i < 100; ++i) {
      d[2 * i] = static_cast<char>('0' + i / 10);
      d[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
  }
};
constexpr DigitPairs kPairs;

inline void put2(char* out, unsigned v) noexcept { std::memcpy(out, &kPairs.d[2 * v], 2); }

// Parses s[0..len) as decimal digits; -1 on a non-digit.
inline int digits(const char* s, int len) noexcept {
  int v = 0;
  for (int i = 0; i < len; ++i) {
    const unsigned dgt = static_cast<unsigned char>(s[i]) - static_cast<unsigned>('0');
    if (dgt > 9) return -1;
    v = v * 10 + static_cast<int>(dgt);
  }
  return v;
}

// civil_from_days on days since 0000-01-01, packed as format_iso_ms keeps it.
constexpr std::uint64_t pack_civil(std::uint32_t days) noexcept {
  // Days since 0000-03-01 (year 0 is a leap year: 60 days before it), plus one
  // 400-year era so that the unsigned arithmetic never goes negative.
  const std::uint32_t z = days + (146097 - 60);
  const std::uint32_t era = z / 146097;
  const std::uint32_t doe = z - era * 146097;
  const std::uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::uint32_t mp = (5 * doy + 2) / 153;
  const std::uint32_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::uint32_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::uint32_t y = yoe + era * 400 - 400 + (m <= 2 ? 1 : 0);
  return (std::uint64_t{days} << 23) | (std::uint64_t{y} << 9) | (m << 5) | d;
}

constexpr std::uint64_t pack_ymd(std::uint64_t days, std::uint32_t y, std::uint32_t m, std::uint32_t d) {
  return (days << 23) | (std::uint64_t{y} << 9) | (m << 5) | d;
}
static_assert(pack_civil(0) == pack_ymd(0, 0, 1, 1));
static_assert(pack_civil(59) == pack_ymd(59, 0, 2, 29));
static_assert(pack_civil(60) == pack_ymd(60, 0, 3, 1));
static_assert(pack_civil(719528) == pack_ymd(719528, 1970, 1, 1));
static_assert(pack_civil(719528 + 11016) == pack_ymd(719528 + 11016, 2000, 2, 29));
static_assert(pack_civil(3652424) == pack_ymd(3652424, 9999, 12, 31));

// The date of the last day formatted. Starts as day 0 = 0000-01-01.
std::atomic<std::uint64_t> g_last_day{pack_ymd(0, 0, 1, 1)};

}  // namespace

std::int64_t now_unix_ms() noexcept {
  struct timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void format_iso_ms(std::int64_t unix_ms, char* out) noexcept {
  // Outside the 4-digit years the form cannot be written; clamp so the output
  // is still 24 bytes of a valid timestamp.
  if (unix_ms < kMinMs) unix_ms = kMinMs;
  if (unix_ms > kMaxMs) unix_ms = kMaxMs;
  // Unsigned arithmetic from 0000-01-01 on (cheaper divisions by constants).
  const auto t = static_cast<std::uint64_t>(unix_ms - kMinMs);
  const auto days = static_cast<std::uint32_t>(t / kMsPerDay);  // since 0000-01-01, < 3652425
  const auto ms_of_day = static_cast<std::uint32_t>(t - std::uint64_t{days} * kMsPerDay);
  // Records of one day share the date: it is computed once per day and kept
  // in one word (day << 23 | year << 9 | month << 5 | mday), which every
  // thread may read and replace freely.
  std::uint64_t packed = g_last_day.load(std::memory_order_relaxed);
  if ((packed >> 23) != days) {
    packed = pack_civil(days);
    g_last_day.store(packed, std::memory_order_relaxed);
  }
  const auto y = static_cast<std::uint32_t>((packed >> 9) & 0x3FFF);
  const auto m = static_cast<std::uint32_t>((packed >> 5) & 0xF);
  const auto d = static_cast<std::uint32_t>(packed & 0x1F);
  const unsigned secs = ms_of_day / 1000;
  const unsigned ms = ms_of_day % 1000;

  put2(out, y / 100);
  put2(out + 2, y % 100);
  out[4] = '-';
  put2(out + 5, m);
  out[7] = '-';
  put2(out + 8, d);
  out[10] = 'T';
  put2(out + 11, secs / 3600);
  out[13] = ':';
  put2(out + 14, secs / 60 % 60);
  out[16] = ':';
  put2(out + 17, secs % 60);
  out[19] = '.';
  out[20] = static_cast<char>('0' + ms / 100);
  put2(out + 21, ms % 100);
  out[23] = 'Z';
}

std::string iso_ms(std::int64_t unix_ms) {
  std::string s(kIsoLength, '\0');
  format_iso_ms(unix_ms, s.data());
  return s;
}

std::optional<std::int64_t> parse_iso_ms(std::string_view s) noexcept {
  if (s.size() != kIsoLength) return std::nullopt;
  const char* p = s.data();
  if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' || p[19] != '.' || p[23] != 'Z')
    return std::nullopt;
  const int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2), h = digits(p + 11, 2),
            mi = digits(p + 14, 2), sec = digits(p + 17, 2), ms = digits(p + 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0)
    return std::nullopt;
  if (static_cast<unsigned>(d) > days_in_month(y, static_cast<unsigned>(mo))) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return days * kMsPerDay + ((static_cast<std::int64_t>(h) * 60 + mi) * 60 + sec) * 1000 + ms;
}

}  // namespace runlog
