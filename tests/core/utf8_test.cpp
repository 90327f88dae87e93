// Tests for core/utf8: JSON escaping + WHATWG UTF-8 sanitizing, checked against
// Node (a table generated once with JSON.stringify(Buffer.toString('utf8'))),
// against a scalar reference decoder on random bytes, and by parsing the
// output back with simdjson.
#include "core/utf8.h"
#include "core/utf8_internal.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace runlog {
namespace {

struct NodeCase {
  const char* name;
  std::string input;
  std::string expected;  // JSON.stringify(Buffer.from(input).toString('utf8')).slice(1, -1)
  bool valid;            // whether Buffer.from(s, 'utf8') gives the input back
};

// Generated with Node v20.20.2 by a script (not part of the repo) that, for each
// input buffer B, printed JSON.stringify(B.toString('utf8')).slice(1, -1).
const std::vector<NodeCase>& node_cases() {
  static const std::vector<NodeCase> cases = {
    {"empty", std::string("", 0), std::string("", 0), true},
    {"ctrl_00", std::string("\000", 1), std::string("\134u0000", 6), true},
    {"ctrl_01", std::string("\001", 1), std::string("\134u0001", 6), true},
    {"ctrl_02", std::string("\002", 1), std::string("\134u0002", 6), true},
    {"ctrl_03", std::string("\003", 1), std::string("\134u0003", 6), true},
    {"ctrl_04", std::string("\004", 1), std::string("\134u0004", 6), true},
    {"ctrl_05", std::string("\005", 1), std::string("\134u0005", 6), true},
    {"ctrl_06", std::string("\006", 1), std::string("\134u0006", 6), true},
    {"ctrl_07", std::string("\007", 1), std::string("\134u0007", 6), true},
    {"ctrl_08", std::string("\010", 1), std::string("\134b", 2), true},
    {"ctrl_09", std::string("\011", 1), std::string("\134t", 2), true},
    {"ctrl_0a", std::string("\012", 1), std::string("\134n", 2), true},
    {"ctrl_0b", std::string("\013", 1), std::string("\134u000b", 6), true},
    {"ctrl_0c", std::string("\014", 1), std::string("\134f", 2), true},
    {"ctrl_0d", std::string("\015", 1), std::string("\134r", 2), true},
    {"ctrl_0e", std::string("\016", 1), std::string("\134u000e", 6), true},
    {"ctrl_0f", std::string("\017", 1), std::string("\134u000f", 6), true},
    {"ctrl_10", std::string("\020", 1), std::string("\134u0010", 6), true},
    {"ctrl_11", std::string("\021", 1), std::string("\134u0011", 6), true},
    {"ctrl_12", std::string("\022", 1), std::string("\134u0012", 6), true},
    {"ctrl_13", std::string("\023", 1), std::string("\134u0013", 6), true},
    {"ctrl_14", std::string("\024", 1), std::string("\134u0014", 6), true},
    {"ctrl_15", std::string("\025", 1), std::string("\134u0015", 6), true},
    {"ctrl_16", std::string("\026", 1), std::string("\134u0016", 6), true},
    {"ctrl_17", std::string("\027", 1), std::string("\134u0017", 6), true},
    {"ctrl_18", std::string("\030", 1), std::string("\134u0018", 6), true},
    {"ctrl_19", std::string("\031", 1), std::string("\134u0019", 6), true},
    {"ctrl_1a", std::string("\032", 1), std::string("\134u001a", 6), true},
    {"ctrl_1b", std::string("\033", 1), std::string("\134u001b", 6), true},
    {"ctrl_1c", std::string("\034", 1), std::string("\134u001c", 6), true},
    {"ctrl_1d", std::string("\035", 1), std::string("\134u001d", 6), true},
    {"ctrl_1e", std::string("\036", 1), std::string("\134u001e", 6), true},
    {"ctrl_1f", std::string("\037", 1), std::string("\134u001f", 6), true},
    {"all_ctrl", std::string("\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037", 32), std::string("\134u0000\134u0001\134u0002\134u0003\134u0004\134u0005\134u0006\134u0007\134b\134t\134n\134u000b\134f\134r\134u000e\134u000f\134u0010\134u0011\134u0012\134u0013\134u0014\134u0015\134u0016\134u0017\134u0018\134u0019\134u001a\134u001b\134u001c\134u001d\134u001e\134u001f", 172), true},
    {"quote", std::string("\042", 1), std::string("\134\042", 2), true},
    {"backslash", std::string("\134", 1), std::string("\134\134", 2), true},
    {"slash", std::string("/", 1), std::string("/", 1), true},
    {"del", std::string("\177", 1), std::string("\177", 1), true},
    {"printable_ascii", std::string(" !\042#$%&'()*+,-./0123456789:;<=>\077@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\134]^_`abcdefghijklmnopqrstuvwxyz{|}~", 95), std::string(" !\134\042#$%&'()*+,-./0123456789:;<=>\077@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\134\134]^_`abcdefghijklmnopqrstuvwxyz{|}~", 97), true},
    {"mixed_escapes", std::string("a\042b\134c\012d\011e\000f\037g", 13), std::string("a\134\042b\134\134c\134nd\134te\134u0000f\134u001fg", 27), true},
    {"two_byte", std::string("\303\251", 2), std::string("\303\251", 2), true},
    {"three_byte", std::string("\342\202\254", 3), std::string("\342\202\254", 3), true},
    {"four_byte", std::string("\360\237\230\200", 4), std::string("\360\237\230\200", 4), true},
    {"u2028_u2029", std::string("\342\200\250\342\200\251", 6), std::string("\342\200\250\342\200\251", 6), true},
    {"bom", std::string("\357\273\277", 3), std::string("\357\273\277", 3), true},
    {"u_ffff", std::string("\357\277\277", 3), std::string("\357\277\277", 3), true},
    {"u_fffd", std::string("\357\277\275", 3), std::string("\357\277\275", 3), true},
    {"u_10ffff", std::string("\364\217\277\277", 4), std::string("\364\217\277\277", 4), true},
    {"u_d7ff", std::string("\355\237\277", 3), std::string("\355\237\277", 3), true},
    {"u_e000", std::string("\356\200\200", 3), std::string("\356\200\200", 3), true},
    {"u_0080", std::string("\302\200", 2), std::string("\302\200", 2), true},
    {"u_07ff", std::string("\337\277", 2), std::string("\337\277", 2), true},
    {"u_0800", std::string("\340\240\200", 3), std::string("\340\240\200", 3), true},
    {"u_10000", std::string("\360\220\200\200", 4), std::string("\360\220\200\200", 4), true},
    {"surrogate_d800", std::string("\355\240\200", 3), std::string("\357\277\275\357\277\275\357\277\275", 9), false},
    {"surrogate_dfff", std::string("\355\277\277", 3), std::string("\357\277\275\357\277\275\357\277\275", 9), false},
    {"surrogate_pair_cesu", std::string("\355\240\275\355\270\200", 6), std::string("\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275", 18), false},
    {"overlong_c0_80", std::string("\300\200", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"overlong_c1_bf", std::string("\301\277", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"overlong_e0_80_80", std::string("\340\200\200", 3), std::string("\357\277\275\357\277\275\357\277\275", 9), false},
    {"overlong_e0_9f_bf", std::string("\340\237\277", 3), std::string("\357\277\275\357\277\275\357\277\275", 9), false},
    {"overlong_f0_80_80_80", std::string("\360\200\200\200", 4), std::string("\357\277\275\357\277\275\357\277\275\357\277\275", 12), false},
    {"overlong_f0_8f_bf_bf", std::string("\360\217\277\277", 4), std::string("\357\277\275\357\277\275\357\277\275\357\277\275", 12), false},
    {"above_max_f4_90", std::string("\364\220\200\200", 4), std::string("\357\277\275\357\277\275\357\277\275\357\277\275", 12), false},
    {"f5_lead", std::string("\365\200\200\200", 4), std::string("\357\277\275\357\277\275\357\277\275\357\277\275", 12), false},
    {"f8_five_byte", std::string("\370\210\200\200\200", 5), std::string("\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275", 15), false},
    {"fc_six_byte", std::string("\374\204\200\200\200\200", 6), std::string("\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275", 18), false},
    {"fe", std::string("\376", 1), std::string("\357\277\275", 3), false},
    {"ff", std::string("\377", 1), std::string("\357\277\275", 3), false},
    {"fe_ff_bom16", std::string("\376\377", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"lone_cont_80", std::string("\200", 1), std::string("\357\277\275", 3), false},
    {"lone_cont_bf", std::string("\277", 1), std::string("\357\277\275", 3), false},
    {"conts_between", std::string("a\200\200b", 4), std::string("a\357\277\275\357\277\275b", 8), false},
    {"extra_cont", std::string("\303\251\251", 3), std::string("\303\251\357\277\275", 5), false},
    {"trunc2_mid", std::string("\303A", 2), std::string("\357\277\275A", 4), false},
    {"trunc3_mid_1", std::string("a\342b", 3), std::string("a\357\277\275b", 5), false},
    {"trunc3_mid_2", std::string("a\342\202b", 4), std::string("a\357\277\275b", 5), false},
    {"trunc4_mid_1", std::string("a\360b", 3), std::string("a\357\277\275b", 5), false},
    {"trunc4_mid_2", std::string("a\360\237b", 4), std::string("a\357\277\275b", 5), false},
    {"trunc4_mid_3", std::string("a\360\237\230b", 5), std::string("a\357\277\275b", 5), false},
    {"trunc2_end", std::string("a\303", 2), std::string("a\357\277\275", 4), false},
    {"trunc3_end", std::string("a\342\202", 3), std::string("a\357\277\275", 4), false},
    {"trunc4_end", std::string("a\360\237\230", 4), std::string("a\357\277\275", 4), false},
    {"trunc_then_lead", std::string("\342\202\342\202\254", 5), std::string("\357\277\275\342\202\254", 6), false},
    {"trunc_then_quote", std::string("\360\237\042", 3), std::string("\357\277\275\134\042", 5), false},
    {"trunc_then_ctrl", std::string("\342\012", 2), std::string("\357\277\275\134n", 5), false},
    {"e0_then_80", std::string("\340\200", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"ed_then_a0_end", std::string("\355\240", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"f4_then_90_end", std::string("\364\220", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"f0_then_8f", std::string("\360\217", 2), std::string("\357\277\275\357\277\275", 6), false},
    {"all_high_bytes", std::string("\200\201\202\203\204\205\206\207\210\211\212\213\214\215\216\217\220\221\222\223\224\225\226\227\230\231\232\233\234\235\236\237\240\241\242\243\244\245\246\247\250\251\252\253\254\255\256\257\260\261\262\263\264\265\266\267\270\271\272\273\274\275\276\277\300\301\302\303\304\305\306\307\310\311\312\313\314\315\316\317\320\321\322\323\324\325\326\327\330\331\332\333\334\335\336\337\340\341\342\343\344\345\346\347\350\351\352\353\354\355\356\357\360\361\362\363\364\365\366\367\370\371\372\373\374\375\376\377", 128), std::string("\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275", 384), false},
    {"long_ascii", std::string("The quick brown fox jumps over the lazy dog 0123456789", 54), std::string("The quick brown fox jumps over the lazy dog 0123456789", 54), true},
    {"long_quote_at_40", std::string("The quick brown fox jumps over the lazy \042The quick brown fox ", 61), std::string("The quick brown fox jumps over the lazy \134\042The quick brown fox ", 62), true},
    {"long_bad_at_15", std::string("The quick brown\377The quick brown fox jumps over", 46), std::string("The quick brown\357\277\275The quick brown fox jumps over", 48), false},
    {"long_bad_at_16", std::string("The quick brown \377The quick brown fox jumps over", 47), std::string("The quick brown \357\277\275The quick brown fox jumps over", 49), false},
    {"long_bad_at_17", std::string("The quick brown f\303The quick brown fox jumps over", 48), std::string("The quick brown f\357\277\275The quick brown fox jumps over", 50), false},
    {"long_char_across_16", std::string("The quick brow\360\237\230\200The quick brown fox jumps over", 48), std::string("The quick brow\360\237\230\200The quick brown fox jumps over", 48), true},
    {"long_trunc_end", std::string("The quick brown fox jumps over the lazy dog 0123456789\360\237\230", 57), std::string("The quick brown fox jumps over the lazy dog 0123456789\357\277\275", 57), false},
    {"long_ctrl_at_31", std::string("The quick brown fox jumps over \001The quick brown fox jumps over ", 63), std::string("The quick brown fox jumps over \134u0001The quick brown fox jumps over ", 68), true},
    {"long_mixed", std::string("The quick brown fox jumps over the lazy dog 0123456789\303\251\342\202\254\360\237\230\200\342\200\250\134\042\015\012\011\010\014\355\240\200\377\200\300\257The quick brown fox jumps over the lazy dog 0123456789\340\240x\177The q", 143), std::string("The quick brown fox jumps over the lazy dog 0123456789\303\251\342\202\254\360\237\230\200\342\200\250\134\134\134\042\134r\134n\134t\134b\134f\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275\357\277\275The quick brown fox jumps over the lazy dog 0123456789\357\277\275x\177The q", 165), false},
    {"cjk_run", std::string("\344\270\255\346\226\207\345\255\227\347\254\246\344\270\262\344\270\255\346\226\207\345\255\227\347\254\246\344\270\262", 30), std::string("\344\270\255\346\226\207\345\255\227\347\254\246\344\270\262\344\270\255\346\226\207\345\255\227\347\254\246\344\270\262", 30), true},
    {"cjk_bad_middle", std::string("\344\270\255\346\226\207\345\255\347\254\246\344\270\262", 14), std::string("\344\270\255\346\226\207\357\277\275\347\254\246\344\270\262", 15), false},
  };
  return cases;
}

// Runs json_escape_utf8 into a buffer of exactly json_escape_bound(n) bytes (so
// that AddressSanitizer sees any write past the bound).
using EscapeImpl = char* (*)(const char*, std::size_t, char*, bool*) noexcept;

std::string escape_by(EscapeImpl f, std::string_view in, bool* valid) {
  const std::size_t bound = json_escape_bound(in.size());
  std::unique_ptr<char[]> buf(new char[bound]);
  char* end = f(in.data(), in.size(), buf.get(), valid);
  EXPECT_LE(static_cast<std::size_t>(end - buf.get()), bound);
  return std::string(buf.get(), static_cast<std::size_t>(end - buf.get()));
}

std::string escape(std::string_view in, bool* valid = nullptr) { return escape_by(&json_escape_utf8, in, valid); }

TEST(Utf8Escape, MatchesNodeTable) {
  for (const NodeCase& c : node_cases()) {
    SCOPED_TRACE(c.name);
    bool valid = !c.valid;
    EXPECT_EQ(escape(c.input, &valid), c.expected);
    EXPECT_EQ(valid, c.valid);
    EXPECT_EQ(utf8_is_valid(c.input.data(), c.input.size()), c.valid);
    std::string appended = "prefix:";
    append_json_string(&appended, c.input);
    EXPECT_EQ(appended, "prefix:\"" + c.expected + "\"");
  }
}

// The same cases behind ASCII of every length 0..33, so that each special byte
// lands at every position of the 16-byte scan blocks and in the scalar tail.
TEST(Utf8Escape, MatchesNodeTableAtEveryOffset) {
  for (const NodeCase& c : node_cases()) {
    SCOPED_TRACE(c.name);
    for (std::size_t pre = 0; pre <= 33; ++pre) {
      for (std::size_t post : {std::size_t{0}, std::size_t{1}, std::size_t{17}}) {
        const std::string pad_a(pre, 'x'), pad_b(post, 'y');
        bool valid = !c.valid;
        ASSERT_EQ(escape(pad_a + c.input + pad_b, &valid), pad_a + c.expected + pad_b) << "pre=" << pre;
        ASSERT_EQ(valid, c.valid);
      }
    }
  }
}

TEST(Utf8Escape, NullValidPointerIsAllowed) {
  const std::string in = "a\xff";
  EXPECT_EQ(escape(in, nullptr), "a\xef\xbf\xbd");
}

TEST(Utf8Escape, WorstCaseFillsBoundExactly) {
  for (std::size_t n : {1u, 15u, 16u, 17u, 100u}) {
    const std::string in(n, '\x01');
    const std::string out = escape(in);
    EXPECT_EQ(out.size(), json_escape_bound(n));
    std::string want;
    for (std::size_t i = 0; i < n; ++i) want += "\\u0001";
    EXPECT_EQ(out, want);
  }
  // Every byte a lone 0xff: 3 output bytes per input byte.
  EXPECT_EQ(escape(std::string(40, '\xff')).size(), 120u);
}

// ---- reference implementation, written from the WHATWG Encoding standard's
// UTF-8 decoder algorithm, one byte at a time ----

struct RefDecode {
  std::vector<std::uint32_t> cps;
  bool valid = true;
  std::size_t pending_at_end = 0;  // bytes of an unfinished sequence at the end
};

RefDecode ref_decode(std::string_view in) {
  RefDecode r;
  std::uint32_t cp = 0;
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (needed == 0) {
      ++i;
      if (b <= 0x7F) {
        r.cps.push_back(b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1Fu;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xFu;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7u;
      } else {
        r.cps.push_back(0xFFFD);
        r.valid = false;
      }
      continue;
    }
    if (b < lower || b > upper) {
      // Error: emit U+FFFD and process this byte again from the start state.
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      r.cps.push_back(0xFFFD);
      r.valid = false;
      continue;
    }
    ++i;
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3Fu);
    if (++seen != needed) continue;
    r.cps.push_back(cp);
    cp = 0;
    needed = seen = 0;
  }
  if (needed != 0) {
    r.cps.push_back(0xFFFD);
    r.valid = false;
    r.pending_at_end = static_cast<std::size_t>(seen) + 1;
  }
  return r;
}

void put_utf8(std::string* out, std::uint32_t cp) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string to_utf8(const std::vector<std::uint32_t>& cps) {
  std::string s;
  for (std::uint32_t cp : cps) put_utf8(&s, cp);
  return s;
}

// JSON.stringify's escaping of a string without lone surrogates.
std::string ref_json_body(const std::vector<std::uint32_t>& cps) {
  std::string s;
  for (std::uint32_t cp : cps) {
    switch (cp) {
      case '"': s += "\\\""; break;
      case '\\': s += "\\\\"; break;
      case '\b': s += "\\b"; break;
      case '\f': s += "\\f"; break;
      case '\n': s += "\\n"; break;
      case '\r': s += "\\r"; break;
      case '\t': s += "\\t"; break;
      default:
        if (cp < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          s += buf;
        } else {
          put_utf8(&s, cp);
        }
    }
  }
  return s;
}

TEST(Utf8Reference, AgreesWithNodeTable) {
  // The reference decoder is itself checked against Node before it is trusted.
  for (const NodeCase& c : node_cases()) {
    const RefDecode r = ref_decode(c.input);
    EXPECT_EQ(ref_json_body(r.cps), c.expected) << c.name;
    EXPECT_EQ(r.valid, c.valid) << c.name;
  }
}

// Random byte strings built from pieces that stress the decoder.
std::string random_text(std::mt19937_64& rng, std::size_t pieces) {
  std::string s;
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  for (std::size_t k = 0; k < pieces; ++k) {
    switch (pick(10)) {
      case 0:
      case 1: {  // a run of printable ASCII
        const std::size_t len = pick(40);
        for (std::size_t i = 0; i < len; ++i) s += static_cast<char>(0x20 + pick(95));
        break;
      }
      case 2: s += static_cast<char>(pick(0x20)); break;  // a control byte
      case 3: s += "\"\\\x7f"[pick(3)]; break;
      case 4: {  // a valid character of 2, 3 or 4 bytes
        std::uint32_t cp;
        do {
          const std::uint32_t ranges[3][2] = {{0x80, 0x7FF}, {0x800, 0xFFFF}, {0x10000, 0x10FFFF}};
          const auto& rg = ranges[pick(3)];
          cp = rg[0] + static_cast<std::uint32_t>(pick(rg[1] - rg[0] + 1));
        } while (cp >= 0xD800 && cp <= 0xDFFF);
        put_utf8(&s, cp);
        break;
      }
      case 5: s += static_cast<char>(0x80 + pick(0x80)); break;  // any high byte
      case 6: {  // a valid character cut short
        std::string ch;
        put_utf8(&ch, static_cast<std::uint32_t>(0x800 + pick(0x10FFFF - 0x800)));
        if ((static_cast<unsigned char>(ch[0]) == 0xED) && static_cast<unsigned char>(ch[1]) >= 0xA0) ch[1] = '\x80';
        s += ch.substr(0, 1 + pick(ch.size() - 1));
        break;
      }
      case 7: {  // boundary leads followed by a boundary second byte
        const char leads[] = "\xc0\xc1\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5";
        const char seconds[] = "\x7f\x80\x8f\x90\x9f\xa0\xbf\xc0";
        s += leads[pick(sizeof leads - 1)];
        s += seconds[pick(sizeof seconds - 1)];
        break;
      }
      case 8: s += "\xe2\x80\xa8"; break;  // U+2028 stays as is
      default: {  // three random bytes
        for (int i = 0; i < 3; ++i) s += static_cast<char>(pick(256));
      }
    }
  }
  return s;
}

TEST(Utf8Escape, RandomBytesAgainstReferenceAndSimdjson) {
  std::mt19937_64 rng(20260101);
  simdjson::dom::parser parser;
  for (int iter = 0; iter < 20000; ++iter) {
    const std::string in = random_text(rng, 1 + rng() % (iter % 100 == 0 ? 400 : 12));
    bool valid = false;
    const std::string body = escape(in, &valid);
    const RefDecode ref = ref_decode(in);
    ASSERT_EQ(valid, ref.valid) << "iter " << iter;
    ASSERT_EQ(utf8_is_valid(in.data(), in.size()), ref.valid) << "iter " << iter;
    ASSERT_EQ(body, ref_json_body(ref.cps)) << "iter " << iter;

    // The output is a valid JSON string body whose value is the decoded text.
    const simdjson::padded_string json("\"" + body + "\"");
    std::string_view parsed;
    ASSERT_EQ(parser.parse(json).get_string().get(parsed), simdjson::SUCCESS) << "iter " << iter;
    ASSERT_EQ(std::string(parsed), to_utf8(ref.cps)) << "iter " << iter;
    // Sanitized output is always valid UTF-8, and sanitizing it again changes nothing.
    ASSERT_TRUE(utf8_is_valid(body.data(), body.size()));
  }
}

// Both ways of escaping an ASCII block (one special byte at a time; one byte
// shuffle per 8 bytes where the CPU has SSSE3), whichever json_escape_utf8 chose.
std::vector<std::pair<std::string, EscapeImpl>> escape_impls() {
  std::vector<std::pair<std::string, EscapeImpl>> impls{{"portable", &utf8_detail::escape_portable}};
  if (utf8_detail::shuffle_available()) impls.emplace_back("shuffle", &utf8_detail::escape_shuffle);
  return impls;
}

TEST(Utf8Escape, EveryImplementationOnEveryAsciiByteAtEveryPosition) {
  for (const auto& [name, f] : escape_impls()) {
    SCOPED_TRACE(name);
    for (unsigned c = 0; c < 0x80; ++c) {
      for (std::size_t pos = 0; pos < 40; ++pos) {
        std::string in(40, 'a');
        in[pos] = static_cast<char>(c);
        in[(pos * 7 + 3) % 40] = '\n';  // a second special byte somewhere
        bool valid = false;
        const RefDecode ref = ref_decode(in);
        ASSERT_EQ(escape_by(f, in, &valid), ref_json_body(ref.cps)) << "byte " << c << " at " << pos;
        ASSERT_TRUE(valid);
      }
    }
  }
}

// ASCII blocks with special bytes are escaped from one mask per 16 bytes, and
// the plain runs between them copied 16 bytes at a time: every density of
// specials, at every position of a block and of the input's last bytes (where
// fewer than 16 bytes can be read), and now and then a non-ASCII byte that
// sends the block to the scalar path. Every implementation.
TEST(Utf8Escape, AsciiBlocksWithManySpecialsAgainstReference) {
  const auto impls = escape_impls();
  std::mt19937_64 rng(20261204);
  static constexpr char kPlain[] = "abcdefghijklmnopqrstuvwxyz 0123456789{}[]:,/";
  static constexpr char kSpecial[] = "\"\\\n\t\r\x01\x1f\b\f";
  for (int iter = 0; iter < 20000; ++iter) {
    const std::size_t n = 1 + rng() % 100;
    const unsigned density = static_cast<unsigned>(rng() % 101);  // % of special bytes
    std::string in(n, ' ');
    for (auto& c : in) {
      if (rng() % 100 < density) c = kSpecial[rng() % (sizeof kSpecial - 1)];
      else c = kPlain[rng() % (sizeof kPlain - 1)];
    }
    if (iter % 7 == 0) in[rng() % n] = static_cast<char>(0x80 + rng() % 128);
    const RefDecode ref = ref_decode(in);
    for (const auto& [name, f] : impls) {
      bool valid = false;
      const std::string body = escape_by(f, in, &valid);
      ASSERT_EQ(valid, ref.valid) << name << " iter " << iter;
      ASSERT_EQ(body, ref_json_body(ref.cps)) << name << " iter " << iter << " input size " << n;
    }
  }
}

TEST(Utf8IsValid, LongInputs) {
  std::string s(5000, 'a');
  EXPECT_TRUE(utf8_is_valid(s.data(), s.size()));
  s[4999] = '\xc3';
  EXPECT_FALSE(utf8_is_valid(s.data(), s.size()));
  s[2500] = '\xed';
  s[2501] = '\xa0';
  s[2502] = '\x80';
  s[4999] = 'a';
  EXPECT_FALSE(utf8_is_valid(s.data(), s.size()));
  EXPECT_TRUE(utf8_is_valid(nullptr, 0));
}

// ---- tail and split ----

// A valid string mixing 1-, 2-, 3- and 4-byte characters, with the offsets of
// its character boundaries.
struct Mixed {
  std::string s;
  std::vector<bool> boundary;  // boundary[k]: k is a character boundary (size+1 entries)
};

Mixed mixed_string() {
  Mixed m;
  const std::uint32_t cps[] = {'a', 0xE9, 0x20AC, 0x1F600, 'b', 0x10FFFF, 0x7FF, 0x800, 0xFFFF, 0x10000,
                               '\n', 0xD7FF, 0xE000, 0x2028, 'z', 0x1F600, 0xE9, 0xE9, 0x20AC};
  m.boundary.push_back(true);
  for (std::uint32_t cp : cps) {
    const std::size_t before = m.s.size();
    put_utf8(&m.s, cp);
    for (std::size_t i = before + 1; i < m.s.size(); ++i) m.boundary.push_back(false);
    m.boundary.push_back(true);
  }
  return m;
}

TEST(Utf8Tail, EveryCutOfMixedString) {
  const Mixed m = mixed_string();
  for (std::size_t k = 0; k <= m.s.size(); ++k) {
    std::size_t last = k;
    while (!m.boundary[last]) --last;
    EXPECT_EQ(utf8_incomplete_tail(m.s.data(), k), k - last) << "cut " << k;
  }
}

TEST(Utf8Tail, TableOfEndings) {
  struct Case {
    std::string in;
    std::size_t tail;
  } cases[] = {
      {"", 0},
      {"a", 0},
      {"\xc3", 1},
      {"a\xc3", 1},
      {"\xe2\x82", 2},
      {"\xe2", 1},
      {"\xf0\x9f\x98", 3},
      {"\xf0\x9f", 2},
      {"\xf0", 1},
      {"\xf4\x8f\xbf", 3},
      {"\xc3\xa9", 0},         // complete
      {"\xf0\x9f\x98\x80", 0}, // complete
      {"\x80", 0},             // lone continuation: no completion possible
      {"\x80\x80\x80", 0},
      {"\xc0", 0},  // never a lead
      {"\xc1", 0},
      {"\xf5", 0},
      {"\xff", 0},
      {"\xe0\x80", 0},  // overlong: already ill-formed
      {"\xe0\xa0", 2},
      {"\xed\xa0", 0},  // surrogate: already ill-formed
      {"\xed\x9f", 2},
      {"\xf0\x8f", 0},
      {"\xf0\x90", 2},
      {"\xf4\x90", 0},
      {"\xf4\x8f", 2},
      {"\xc3\xa9\xa9", 0},
      {"\xf0\x9f\x98\x80\x80", 0},
      {"abc\xe2\x82", 2},
  };
  for (const Case& c : cases)
    EXPECT_EQ(utf8_incomplete_tail(c.in.data(), c.in.size()), c.tail) << testing::PrintToString(c.in);
}

// What a carried tail means: decoding the chunk without it, then tail + next
// chunk, reads as the whole. The reference decoder says how many bytes were
// left pending at the end.
TEST(Utf8Tail, RandomBytesMatchReferencePending) {
  std::mt19937_64 rng(77);
  for (int iter = 0; iter < 20000; ++iter) {
    const std::string in = random_text(rng, 1 + rng() % 6);
    const std::size_t t = utf8_incomplete_tail(in.data(), in.size());
    ASSERT_EQ(t, ref_decode(in).pending_at_end) << testing::PrintToString(in);
  }
}

TEST(Utf8Split, EveryMaxOfMixedString) {
  const Mixed m = mixed_string();
  const std::size_t n = m.s.size();
  for (std::size_t max = 0; max <= n; ++max) {
    std::size_t want = max;
    while (!m.boundary[want]) --want;
    if (want == 0 && max > 0) want = max;  // never 0
    const std::size_t k = utf8_split_point(m.s.data(), n, max);
    EXPECT_EQ(k, want) << "max " << max;
  }
}

std::string decode_str(std::string_view s) { return to_utf8(ref_decode(s).cps); }

// On arbitrary bytes the split point is the largest k <= max where splitting
// changes nothing: decode(in[0,k)) + decode(in[k,n)) == decode(in).
TEST(Utf8Split, RandomBytesSplitCleanly) {
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string in = random_text(rng, 1 + rng() % 8);
    const std::size_t n = in.size();
    const std::string whole = decode_str(in);
    for (std::size_t max = 0; max <= n; ++max) {
      const std::size_t k = utf8_split_point(in.data(), n, max);
      ASSERT_LE(k, max);
      if (max >= 4) {
        ASSERT_GE(k, max - 3);
      }
      if (max > 0) {
        ASSERT_GT(k, 0u);
      }
      std::size_t want = max;
      while (want > 0 && decode_str(in.substr(0, want)) + decode_str(in.substr(want)) != whole) --want;
      if (want == 0 && max > 0) want = max;
      ASSERT_EQ(k, want) << testing::PrintToString(in) << " max " << max;
    }
  }
}

}  // namespace
}  // namespace runlog
