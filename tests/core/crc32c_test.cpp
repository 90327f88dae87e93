// Tests for core/crc32c: known vectors, composition, hardware vs table, hex.
#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/crc32c_internal.h"

namespace runlog {
namespace {

// Bit-at-a-time CRC32C straight from the definition, to check the fast ones.
std::uint32_t crc32c_bitwise(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  return ~c;
}

std::vector<unsigned char> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c_extend(0, "123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c_detail::extend_table(0, "123456789", 9), 0xe3069283u);
  EXPECT_EQ(crc32c_bitwise("123456789", 9), 0xe3069283u);
}

TEST(Crc32c, EmptyIsIdentity) {
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c_extend(0x12345678u, "", 0), 0x12345678u);
  EXPECT_EQ(crc32c_extend(0x12345678u, nullptr, 0), 0x12345678u);
}

// RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  unsigned char buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(crc32c(buf, 32), 0x8a9136aau);
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(crc32c(buf, 32), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(crc32c(buf, 32), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c(buf, 32), 0x113fdb5cu);
  // The iSCSI SCSI Read (10) command PDU.
  const unsigned char pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(crc32c(pdu, sizeof pdu), 0xd9963a56u);
}

TEST(Crc32c, MatchesBitwiseDefinition) {
  std::mt19937_64 rng(1);
  for (std::size_t n : {1u, 7u, 8u, 9u, 63u, 64u, 65u, 767u, 768u, 769u, 1000u, 12288u, 12289u, 40000u}) {
    const auto v = random_bytes(rng, n);
    const std::uint32_t want = crc32c_bitwise(v.data(), n);
    EXPECT_EQ(crc32c(v.data(), n), want) << "n=" << n;
    EXPECT_EQ(crc32c_detail::extend_table(0, v.data(), n), want) << "n=" << n;
  }
}

TEST(Crc32c, ExtendComposesOverRandomSplits) {
  std::mt19937_64 rng(2);
  for (int iter = 0; iter < 300; ++iter) {
    const std::size_t n = rng() % 30000;
    const auto v = random_bytes(rng, n);
    const std::uint32_t whole = crc32c(v.data(), n);
    // Split into up to 5 random pieces.
    std::vector<std::size_t> cuts{0, n};
    for (int k = 0; k < 4; ++k) cuts.push_back(n ? rng() % (n + 1) : 0);
    std::sort(cuts.begin(), cuts.end());
    std::uint32_t c = 0, t = 0;
    for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
      c = crc32c_extend(c, v.data() + cuts[k], cuts[k + 1] - cuts[k]);
      t = crc32c_detail::extend_table(t, v.data() + cuts[k], cuts[k + 1] - cuts[k]);
    }
    ASSERT_EQ(c, whole) << "n=" << n;
    ASSERT_EQ(t, whole) << "n=" << n;
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::mt19937_64 rng(3);
  const auto v = random_bytes(rng, 300);
  const std::uint32_t base = crc32c(v.data(), v.size());
  auto w = v;
  for (std::size_t bit = 0; bit < w.size() * 8; ++bit) {
    w[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    ASSERT_NE(crc32c(w.data(), w.size()), base) << "bit " << bit;
    w[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
  }
}

TEST(Crc32c, HardwareAndTableAgree) {
  if (!crc32c_detail::hardware_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  EXPECT_TRUE(crc32c_is_hardware());
  std::mt19937_64 rng(4);
  // A buffer with slack so that every alignment of every length can be taken.
  const auto big = random_bytes(rng, 3 * 4096 * 3 + 64);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 1100; ++n) lengths.push_back(n);
  for (std::size_t n : {3u * 256 - 1, 3u * 256, 3u * 256 + 1, 2u * 3 * 256 + 5, 3u * 4096 - 1, 3u * 4096,
                        3u * 4096 + 1, 3u * 4096 + 3 * 256 + 7, 2u * 3 * 4096 + 13, 3u * 3 * 4096})
    lengths.push_back(n);
  for (std::size_t n : lengths) {
    for (std::size_t align = 0; align < 16; align += (n > 2000 ? 5 : 1)) {
      const unsigned char* p = big.data() + align;
      const std::uint32_t seed = static_cast<std::uint32_t>(rng());
      const std::uint32_t hw = crc32c_detail::extend_hardware(seed, p, n);
      const std::uint32_t tb = crc32c_detail::extend_table(seed, p, n);
      ASSERT_EQ(hw, tb) << "n=" << n << " align=" << align;
    }
  }
  // And on a long buffer against the definition itself.
  EXPECT_EQ(crc32c_detail::extend_hardware(0, big.data(), big.size()), crc32c_bitwise(big.data(), big.size()));
}

TEST(Crc32c, HexRoundTrip) {
  char buf[9] = {};
  crc32c_hex(0xe3069283u, buf);
  EXPECT_STREQ(buf, "e3069283");
  crc32c_hex(0, buf);
  EXPECT_STREQ(buf, "00000000");
  crc32c_hex(0xFFFFFFFFu, buf);
  EXPECT_STREQ(buf, "ffffffff");
  crc32c_hex(0x0000abcdu, buf);
  EXPECT_STREQ(buf, "0000abcd");

  std::mt19937_64 rng(5);
  for (int i = 0; i < 10000; ++i) {
    const auto v = static_cast<std::uint32_t>(rng());
    crc32c_hex(v, buf);
    std::uint32_t back = ~v;
    ASSERT_TRUE(parse_crc32c_hex(buf, &back)) << buf;
    ASSERT_EQ(back, v);
  }
}

TEST(Crc32c, HexParseRejects) {
  std::uint32_t v = 42;
  for (const char* bad : {"E3069283", "e306928g", "e306928 ", "-3069283", "0x069283", "e30692\0" "3", "zzzzzzzz",
                          "e3069 83", ""}) {
    EXPECT_FALSE(parse_crc32c_hex(bad, &v)) << bad;
  }
  EXPECT_EQ(v, 42u);  // untouched on failure
  EXPECT_TRUE(parse_crc32c_hex("e3069283", &v));
  EXPECT_EQ(v, 0xe3069283u);
  EXPECT_TRUE(parse_crc32c_hex("0123456789abcdef", &v));  // reads exactly 8
  EXPECT_EQ(v, 0x01234567u);
}

}  // namespace
}  // namespace runlog
