// Tests for core/timefmt: the ISO form against Node's Date.prototype.toISOString,
// strict parsing, and a round trip over the whole 4-digit-year range.
#include "core/timefmt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <random>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace runlog {
namespace {

struct TimeCase {
  std::int64_t ms;
  const char* iso;
};

// Generated with Node v20.20.2: `${v}LL, "${new Date(v).toISOString()}"`.
constexpr TimeCase kNodeCases[] = {
    {0LL, "1970-01-01T00:00:00.000Z"},
    {1LL, "1970-01-01T00:00:00.001Z"},
    {999LL, "1970-01-01T00:00:00.999Z"},
    {1000LL, "1970-01-01T00:00:01.000Z"},
    {59999LL, "1970-01-01T00:00:59.999Z"},
    {86399999LL, "1970-01-01T23:59:59.999Z"},
    {86400000LL, "1970-01-02T00:00:00.000Z"},
    {951827696789LL, "2000-02-29T12:34:56.789Z"},
    {951868800000LL, "2000-03-01T00:00:00.000Z"},
    {-2203891200000LL, "1900-03-01T00:00:00.000Z"},
    {4107542399999LL, "2100-02-28T23:59:59.999Z"},
    {4107542400000LL, "2100-03-01T00:00:00.000Z"},
    {1709164800001LL, "2024-02-29T00:00:00.001Z"},
    {1795256220123LL, "2026-11-21T10:17:00.123Z"},
    {946684799999LL, "1999-12-31T23:59:59.999Z"},
    {1000000000000LL, "2001-09-09T01:46:40.000Z"},
    {2147483647000LL, "2038-01-19T03:14:07.000Z"},
    {4102444800000LL, "2100-01-01T00:00:00.000Z"},
    {253402300799999LL, "9999-12-31T23:59:59.999Z"},
    {253402214400000LL, "9999-12-31T00:00:00.000Z"},
    {13574566923004LL, "2400-02-29T01:02:03.004Z"},
    {7LL, "1970-01-01T00:00:00.007Z"},
    {1234567890123LL, "2009-02-13T23:31:30.123Z"},
    {951782399999LL, "2000-02-28T23:59:59.999Z"},
    {-1LL, "1969-12-31T23:59:59.999Z"},
    {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
    {-62162035200000LL, "0000-03-01T00:00:00.000Z"},
    {-86400000LL, "1969-12-31T00:00:00.000Z"},
};

TEST(TimeFmt, MatchesNodeToIsoString) {
  for (const TimeCase& c : kNodeCases) {
    char buf[kIsoLength + 1] = {};
    buf[kIsoLength] = '#';
    format_iso_ms(c.ms, buf);
    EXPECT_EQ(std::string(buf, kIsoLength), c.iso) << c.ms;
    EXPECT_EQ(buf[kIsoLength], '#') << "wrote past 24 bytes";
    EXPECT_EQ(iso_ms(c.ms), c.iso);
    const auto back = parse_iso_ms(c.iso);
    ASSERT_TRUE(back.has_value()) << c.iso;
    EXPECT_EQ(*back, c.ms) << c.iso;
  }
}

TEST(TimeFmt, RoundTripRandom) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> dist(0, 253402300799999LL);
  std::string prev;
  for (int i = 0; i < 200000; ++i) {
    const std::int64_t ms = dist(rng);
    const std::string s = iso_ms(ms);
    ASSERT_EQ(s.size(), kIsoLength);
    const auto back = parse_iso_ms(s);
    ASSERT_TRUE(back.has_value()) << s;
    ASSERT_EQ(*back, ms) << s;
  }
}

// Consecutive days across the whole range: the date text must move forward by
// exactly one calendar day each time (checks month lengths and leap years
// independently of the conversion formulas).
TEST(TimeFmt, EveryDayIsTheNextCalendarDay) {
  auto leap = [](int y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); };
  int y = 0, m = 1, d = 1;
  for (std::int64_t day = -719528; day <= 2932896; ++day) {
    char want[32];
    std::snprintf(want, sizeof want, "%04d-%02d-%02d", y, m, d);
    const std::string got = iso_ms(day * 86400000 + 43200000);
    ASSERT_EQ(got.substr(0, 10), want) << day;
    ASSERT_EQ(got.substr(10), "T12:00:00.000Z");
    const int mdays[] = {31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (++d > mdays[m - 1]) {
      d = 1;
      if (++m > 12) {
        m = 1;
        ++y;
      }
    }
  }
  EXPECT_EQ(y, 10000);
}

// The formatter remembers the last day it formatted; threads formatting
// different days at once must still each get their own dates.
TEST(TimeFmt, ConcurrentThreadsOnDifferentDays) {
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &mismatches] {
      for (int i = 0; i < 20000; ++i) {
        const TimeCase& c = kNodeCases[static_cast<std::size_t>(t * 5 + i) % std::size(kNodeCases)];
        char buf[kIsoLength];
        format_iso_ms(c.ms, buf);
        if (std::string(buf, kIsoLength) != c.iso) mismatches.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// The sequencer's cache of the last second writes what format_iso_ms writes:
// every millisecond across second, minute, day and year boundaries (forward,
// backward, and jumping between far apart times), before 1970, and at and
// beyond the ends of the range (clamped, and not kept as the second).
TEST(TimeFmt, CacheOfTheLastSecondWritesWhatTheFormatterWrites) {
  IsoMsCache cache;
  std::size_t checked = 0;
  auto check = [&](std::int64_t ms) {
    char want[kIsoLength], got[kIsoLength];
    format_iso_ms(ms, want);
    cache.format(ms, got);
    ++checked;
    ASSERT_EQ(std::string(got, kIsoLength), std::string(want, kIsoLength)) << ms;
  };
  const std::int64_t starts[] = {0,          -1,           1'764'000'000'000, 1'767'225'599'000, 951'782'399'000,
                                 kIsoMinMs, kIsoMaxMs - 2500, -86'400'000};
  for (std::int64_t start : starts) {
    for (std::int64_t ms = start - 2500; ms <= start + 2500; ++ms) check(ms);      // forward
    for (std::int64_t ms = start + 2500; ms >= start - 2500; ms -= 7) check(ms);   // backward
  }
  for (const TimeCase& c : kNodeCases) {
    check(c.ms);
    check(c.ms + 1);
    check(1'764'000'000'000);  // back and forth between far apart seconds
  }
  for (std::int64_t ms : {kIsoMaxMs + 1, kIsoMaxMs + 1000, kIsoMaxMs, kIsoMaxMs + 2, kIsoMinMs - 1, kIsoMinMs - 999,
                          kIsoMinMs, std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})
    check(ms);
  EXPECT_GT(checked, 45'000u);
}

TEST(TimeFmt, ParseRejects) {
  const char* bad[] = {
      "",
      "2026-11-21T10:17:00.123",     // no Z
      "2026-11-21T10:17:00.123Z ",   // trailing space
      " 2026-11-21T10:17:00.123Z",
      "2026-11-21T10:17:00.12Z",     // 2-digit ms
      "2026-11-21T10:17:00Z",
      "2026-11-21 10:17:00.123Z",    // space for T
      "2026-11-21t10:17:00.123Z",
      "2026-11-21T10:17:00.123z",
      "2026-11-21T10:17:00,123Z",
      "2026/11/21T10:17:00.123Z",
      "2026-13-21T10:17:00.123Z",    // month 13
      "2026-00-21T10:17:00.123Z",
      "2026-11-00T10:17:00.123Z",    // day 0
      "2026-11-31T10:17:00.123Z",    // November has 30 days
      "2026-02-29T10:17:00.123Z",    // not a leap year
      "2100-02-29T10:17:00.123Z",    // not a leap year either
      "2026-11-21T24:00:00.000Z",    // Node's Date.parse accepts this one; we do not
      "2026-11-21T10:60:00.123Z",
      "2026-11-21T10:17:60.123Z",    // no leap seconds
      "2026-11-21T1a:17:00.123Z",
      "+02026-11-21T10:17:00.123Z",  // expanded years
      "-000001-12-31T23:59:59.999Z",
      "2026-11-21T10:17:00.123+00:00",
  };
  for (const char* s : bad) EXPECT_FALSE(parse_iso_ms(s).has_value()) << s;
  EXPECT_TRUE(parse_iso_ms("2000-02-29T23:59:59.999Z").has_value());
  EXPECT_TRUE(parse_iso_ms("2400-02-29T00:00:00.000Z").has_value());
  // Embedded NUL with the right length.
  EXPECT_FALSE(parse_iso_ms(std::string_view("2026-11-21T10:17:0\0.123Z", 24)).has_value());
}

TEST(TimeFmt, ClampsOutsideFourDigitYears) {
  EXPECT_EQ(iso_ms(253402300800000LL), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(iso_ms(INT64_MAX), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(iso_ms(-62167219200001LL), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(iso_ms(INT64_MIN), "0000-01-01T00:00:00.000Z");
}

TEST(TimeFmt, NowIsPlausible) {
  const std::int64_t a = now_unix_ms();
  EXPECT_GT(a, 1'600'000'000'000LL);  // after 2020
  EXPECT_LT(a, 4'102'444'800'000LL);  // before 2100
  const std::int64_t b = now_unix_ms();
  EXPECT_GE(b + 1000, a);
  const auto back = parse_iso_ms(iso_ms(a));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, a);
}

}  // namespace
}  // namespace runlog
