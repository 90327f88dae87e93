// Tests for core/base64: RFC 4648 vectors, Node's output for binary bytes,
// random round trips and strict rejection of malformed input.
#include "core/base64.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>

namespace runlog {
namespace {

std::string encode(std::string_view in) {
  std::string out(base64_encoded_size(in.size()), '#');
  char* end = base64_encode(in.data(), in.size(), out.data());
  EXPECT_EQ(static_cast<std::size_t>(end - out.data()), out.size());
  return out;
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(encode(plain), coded);
    std::string back = "keep:";
    ASSERT_TRUE(base64_decode(coded, &back)) << coded;
    EXPECT_EQ(back, "keep:" + plain);  // appends
  }
}

// From Node: Buffer.from(hex, 'hex').toString('base64').
TEST(Base64, MatchesNodeOnBinary) {
  const std::pair<std::string, std::string> vectors[] = {
      {std::string("\xfb\xff\xbf", 3), "+/+/"},
      {std::string("\0\0\0", 3), "AAAA"},
      {std::string("\xff", 1), "/w=="},
      {std::string("\xff\xfe", 2), "//4="},
      {std::string("\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff", 17),
       "ABAgMEBQYHCAkKCwwNDg8P8="},
      {std::string("\xe2\x82\xff", 3), "4oL/"},
  };
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(encode(plain), coded);
    std::string back;
    ASSERT_TRUE(base64_decode(coded, &back)) << coded;
    EXPECT_EQ(back, plain);
  }
}

TEST(Base64, EncodedSize) {
  EXPECT_EQ(base64_encoded_size(0), 0u);
  EXPECT_EQ(base64_encoded_size(1), 4u);
  EXPECT_EQ(base64_encoded_size(2), 4u);
  EXPECT_EQ(base64_encoded_size(3), 4u);
  EXPECT_EQ(base64_encoded_size(4), 8u);
  EXPECT_EQ(base64_encoded_size(1 << 20), 1398104u);
}

TEST(Base64, RandomRoundTrip) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string plain(rng() % 300, '\0');
    for (char& c : plain) c = static_cast<char>(rng());
    const std::string coded = encode(plain);
    ASSERT_EQ(coded.size() % 4, 0u);
    for (char c : coded)
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=') << coded;
    std::string back;
    ASSERT_TRUE(base64_decode(coded, &back));
    ASSERT_EQ(back, plain);
  }
}

TEST(Base64, RejectsBadInput) {
  const std::string bad[] = {
      "Zg",        // padding required (Node accepts this; we do not)
      "Zg=",       // length not a multiple of 4
      "Z===",      // three pad characters
      "====",
      "=Zg=",      // padding first
      "Zg==Zg==",  // padding in the middle
      "Zm9v\n",    // whitespace
      "Zm 9v",
      "Zm9v Zg==",
      "Zm9-",      // base64url alphabet
      "Zm9_",
      "Zm9\x80",
      std::string("Zm9\0", 4),
      "Zh==",      // non-zero leftover bits (Node decodes it as "f")
      "Zm9=",      // ditto, as "fo"
      "Zm9vZh==",
      "A",
      "AB",
      "ABC",
  };
  for (const std::string& s : bad) {
    std::string out = "keep";
    EXPECT_FALSE(base64_decode(s, &out)) << testing::PrintToString(s);
    EXPECT_EQ(out, "keep") << "output left unchanged on failure: " << testing::PrintToString(s);
  }
  std::string out;
  EXPECT_TRUE(base64_decode("", &out));
  EXPECT_EQ(out, "");
}

// Every single-character corruption of a valid encoding to a character outside
// the alphabet is refused wherever it lands.
TEST(Base64, RejectsForeignCharacterAnywhere) {
  const std::string good = "Zm9vYmFyYmF6cXV4";
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (char c : {'!', '-', '_', ' ', '\n', '.', '\0', '\xff'}) {
      std::string s = good;
      s[i] = c;
      std::string out;
      EXPECT_FALSE(base64_decode(s, &out)) << i << " " << static_cast<int>(c);
    }
  }
}

}  // namespace
}  // namespace runlog
