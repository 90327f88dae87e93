// tests/engine/engine_text_test.cpp — SPEC invariant 5 (lossless text) through
// the whole engine: escaping as JSON.stringify does, invalid bytes shown as
// Node shows them and kept in "bytes", characters split across pushes kept
// whole, an incomplete tail at close, and chunks over the record limit.
#include <gtest/gtest.h>

#include <ostream>

#include <atomic>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "core/base64.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The records of one channel after the run is closed.
class EngineTextTest : public EngineTestBase {
 protected:
  void SetUp() override {
    engine_ = OpenEngine(MakeOptions(Durability::none));
    ASSERT_NE(engine_, nullptr);
    run_ = OpenRun(*engine_, "text", "r1");
    producer_ = std::make_unique<Producer>(*engine_);
  }
  void TearDown() override {
    producer_.reset();
    engine_.reset();
  }
  void Push(std::string_view bytes, Channel ch = Channel::stdout_) {
    auto t = ch == Channel::stdout_ ? producer_->push_stdout(run_, bytes) : producer_->push_stderr(run_, bytes);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
  }
  // Closes the run, checks every line, returns the records of `file`.
  std::vector<Record> CloseAndRead(const char* file = "stdout.jsonl") {
    EXPECT_TRUE(run_.close().ok());
    const std::string dir = run_dir("text", "r1");
    EXPECT_TRUE(CheckRun(dir));
    return ParseFile(dir, file);
  }
  static std::string Concat(const std::vector<Record>& recs, bool raw) {
    std::string s;
    for (const Record& r : recs) s += raw ? r.raw : r.text;
    return s;
  }

  std::unique_ptr<Engine> engine_;
  runlog::Run run_;
  std::unique_ptr<Producer> producer_;
};

// What JSON.stringify writes for a string of these (ASCII) bytes, without quotes.
std::string JsonStringifyAscii(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

TEST_F(EngineTextTest, ControlBytesQuotesAndBackslashesAreEscapedAsJsonStringify) {
  std::string input;
  for (int c = 0; c < 0x20; ++c) input += static_cast<char>(c);
  input += "\"\\/ plain \x7f end";
  Push(input);
  std::vector<Record> recs = CloseAndRead();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].text, input);
  EXPECT_FALSE(recs[0].bytes.has_value());
  const std::string want = "\"text\":\"" + JsonStringifyAscii(input) + "\",\"crc\"";
  EXPECT_NE(recs[0].line.find(want), std::string::npos) << "line: " << recs[0].line << "\nwant: " << want;
}

TEST_F(EngineTextTest, MultiByteCharactersAreWrittenAsIs) {
  const std::string input = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8\xE2\x80\xA9 \xEF\xBB\xBF \xF4\x8F\xBF\xBF";
  Push(input);
  std::vector<Record> recs = CloseAndRead();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].text, input);
  EXPECT_FALSE(recs[0].bytes.has_value());
  // Not \u-escaped: JSON.stringify leaves U+2028/9 and non-ASCII as they are.
  EXPECT_NE(recs[0].line.find("\"text\":\"" + input + "\""), std::string::npos) << recs[0].line;
}

struct InvalidCase {
  const char* name;
  std::string input;
  std::string node;  // what Buffer.from(input).toString('utf8') shows
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

std::string R(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += kReplacement;
  return s;
}

class EngineInvalidUtf8Test : public EngineTextTest, public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(EngineInvalidUtf8Test, TextIsWhatNodeShowsAndBytesAreExact) {
  const InvalidCase& c = GetParam();
  ASSERT_EQ(WhatwgDecode(c.input), c.node) << "the reference decoder disagrees with the table";
  Push(c.input);
  std::vector<Record> recs = CloseAndRead();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].text, c.node);
  ASSERT_TRUE(recs[0].bytes.has_value());
  std::string decoded;
  ASSERT_TRUE(base64_decode(*recs[0].bytes, &decoded));
  EXPECT_EQ(decoded, c.input);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EngineInvalidUtf8Test,
    ::testing::Values(InvalidCase{"ff", "\xFF", R(1)},
                      InvalidCase{"ff_in_text", "a\xFF" "b|", "a" + R(1) + "b|"},
                      InvalidCase{"lone_continuation", "a\x80" "b|", "a" + R(1) + "b|"},
                      InvalidCase{"continuations", "\x80\xBF\x80|", R(3) + "|"},
                      InvalidCase{"overlong_2", "\xC0\x80|", R(2) + "|"},
                      InvalidCase{"overlong_slash", "\xC0\xAF|", R(2) + "|"},
                      InvalidCase{"overlong_3", "\xE0\x80\x80|", R(3) + "|"},
                      InvalidCase{"overlong_4", "\xF0\x80\x80\x80|", R(4) + "|"},
                      InvalidCase{"surrogate", "\xED\xA0\x80|", R(3) + "|"},
                      InvalidCase{"above_10ffff", "\xF4\x90\x80\x80|", R(4) + "|"},
                      InvalidCase{"f5", "\xF5\x80|", R(2) + "|"},
                      InvalidCase{"truncated_4_then_ascii", "\xF0\x9F\x98" "A|", R(1) + "A|"},
                      InvalidCase{"truncated_3_then_ascii", "\xE2\x82" "A|", R(1) + "A|"},
                      InvalidCase{"truncated_2_then_lead", "\xC3\xC3\xA9|", R(1) + "\xC3\xA9|"},
                      InvalidCase{"fe_ff", "\xFE\xFE\xFF\xFF|", R(4) + "|"},
                      InvalidCase{"valid_around_invalid", "\xC3\xA9\xFF\xC3\xA9|", "\xC3\xA9" + R(1) + "\xC3\xA9|"},
                      InvalidCase{"five_byte_form", "\xF8\x88\x80\x80\x80|", R(5) + "|"}),
    [](const ::testing::TestParamInfo<InvalidCase>& p) { return std::string(p.param.name); });

// Random bytes (ASCII, whole characters, stray high bytes) pushed in random
// slices, on stdout and stderr in turn.
TEST_F(EngineTextTest, RawReplayReproducesThePushedBytesExactly) {
  std::mt19937_64 rng(20261121);
  const std::vector<std::string> pieces = {"a", "Z", " ", "\n", "\t", "\"", "\\", "\x01", "\xC3\xA9", "\xE2\x82\xAC",
                                           "\xF0\x9F\x98\x80", "\xFF", "\x80", "\xC3", "\xE2\x82", "\xF0\x9F\x98",
                                           "\xED\xA0\x80", "\xC0\xAF"};
  std::string streams[2];
  for (auto& s : streams) {
    while (s.size() < 40000) s += pieces[rng() % pieces.size()];
  }
  std::size_t pos[2] = {0, 0};
  while (pos[0] < streams[0].size() || pos[1] < streams[1].size()) {
    for (int ch = 0; ch < 2; ++ch) {
      if (pos[ch] >= streams[ch].size()) continue;
      std::size_t n = std::min<std::size_t>(1 + rng() % 300, streams[ch].size() - pos[ch]);
      Push(std::string_view(streams[ch]).substr(pos[ch], n), ch == 0 ? Channel::stdout_ : Channel::stderr_);
      pos[ch] += n;
    }
  }
  ASSERT_TRUE(run_.close().ok());
  const std::string dir = run_dir("text", "r1");
  ASSERT_TRUE(CheckRun(dir));  // includes: text == WHATWG(bytes) for each record with bytes
  const char* files[2] = {"stdout.jsonl", "stderr.jsonl"};
  for (int ch = 0; ch < 2; ++ch) {
    SCOPED_TRACE(files[ch]);
    std::vector<Record> recs = ParseFile(dir, files[ch]);
    EXPECT_EQ(Concat(recs, true), streams[ch]) << "raw replay differs";
    // The records' texts are what a streaming decoder (Node reading the pipe) shows.
    EXPECT_EQ(Concat(recs, false), WhatwgDecode(streams[ch]));
  }
}

struct SplitCase {
  const char* name;
  std::string first, second;
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const SplitCase& c, std::ostream* os) { *os << c.name; }

class EngineSplitCharTest : public EngineTextTest, public ::testing::WithParamInterface<SplitCase> {};

TEST_P(EngineSplitCharTest, CharacterSplitAcrossPushesIsKeptWhole) {
  const SplitCase& c = GetParam();
  Push(c.first);
  Push(c.second);
  std::vector<Record> recs = CloseAndRead();
  ASSERT_FALSE(recs.empty());
  for (const Record& r : recs) {
    EXPECT_EQ(r.text.find(kReplacement), std::string::npos) << "U+FFFD in " << r.line;
    EXPECT_FALSE(r.bytes.has_value()) << r.line;
  }
  EXPECT_EQ(Concat(recs, false), c.first + c.second);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EngineSplitCharTest,
    ::testing::Values(SplitCase{"e_acute_1_1", "caf\xC3", "\xA9 au lait\n"},
                      SplitCase{"euro_1_2", "price: \xE2", "\x82\xAC" "5\n"},
                      SplitCase{"euro_2_1", "price: \xE2\x82", "\xAC" "5\n"},
                      SplitCase{"emoji_1_3", "ok \xF0", "\x9F\x98\x80 done\n"},
                      SplitCase{"emoji_2_2", "ok \xF0\x9F", "\x98\x80 done\n"},
                      SplitCase{"emoji_3_1", "ok \xF0\x9F\x98", "\x80 done\n"}),
    [](const ::testing::TestParamInfo<SplitCase>& p) { return std::string(p.param.name); });

TEST_F(EngineTextTest, SplitCharacterOnStdoutIsNotJoinedWithStderr) {
  Push("out \xC3", Channel::stdout_);
  Push("err\n", Channel::stderr_);
  Push("\xA9\n", Channel::stdout_);
  std::vector<Record> out = CloseAndRead("stdout.jsonl");
  std::vector<Record> err = ParseFile(run_dir("text", "r1"), "stderr.jsonl");
  EXPECT_EQ(Concat(out, false), "out \xC3\xA9\n");
  EXPECT_EQ(Concat(err, false), "err\n");
  for (const Record& r : out) EXPECT_FALSE(r.bytes.has_value()) << r.line;
}

TEST_F(EngineTextTest, IncompleteTailAtCloseBecomesReplacementWithItsBytes) {
  Push("last words \xE2\x82");
  std::vector<Record> recs = CloseAndRead();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].text, "last words ");
  EXPECT_FALSE(recs[0].bytes.has_value());
  EXPECT_EQ(recs[1].text, kReplacement);
  ASSERT_TRUE(recs[1].bytes.has_value());
  std::string decoded;
  ASSERT_TRUE(base64_decode(*recs[1].bytes, &decoded));
  EXPECT_EQ(decoded, "\xE2\x82");
  EXPECT_EQ(Concat(recs, true), "last words \xE2\x82");
}

// Two producers on one channel: one's held-back character must not be put in
// front of the other's chunk.
TEST_F(EngineTextTest, SplitCharacterIsNotJoinedWithAnotherProducersChunk) {
  Producer other(*engine_);
  auto a1 = producer_->push_stdout(run_, "x\xC3");
  ASSERT_TRUE(a1.ok());
  ASSERT_TRUE(a1->wait().ok());
  auto b = other.push_stdout(run_, "hello\n");
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->wait().ok());
  auto a2 = producer_->push_stdout(run_, "\xA9\n");
  ASSERT_TRUE(a2.ok());
  ASSERT_TRUE(a2->wait().ok());
  std::vector<Record> recs = CloseAndRead();
  for (const Record& r : recs) {
    EXPECT_EQ(r.text.find(kReplacement), std::string::npos) << "U+FFFD in " << r.line;
    EXPECT_FALSE(r.bytes.has_value()) << r.line;
  }
  // The held-back byte waits for its own producer's next chunk: the other
  // producer's record sits between, and the character is whole.
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].text, "x");
  EXPECT_EQ(recs[1].text, "hello\n");
  EXPECT_EQ(recs[2].text, "\xC3\xA9\n") << "the producer's e-acute was broken";
}

// ---------------------------------------------------------- record limit

struct OversizeCase {
  const char* name;
  std::string unit;    // repeated to 10,000 bytes
  std::string prefix;  // shifts the character boundaries off the limit
};
// ctest lists parameterized tests with their parameter: print its name.
void PrintTo(const OversizeCase& c, std::ostream* os) { *os << c.name; }

class EngineOversizeTest : public ::testing::TestWithParam<OversizeCase>, public EngineFixture {};

TEST_P(EngineOversizeTest, ChunkOverTheLimitIsSplitAtCharacterBoundaries) {
  constexpr std::size_t kLimit = 1024;
  Options o = MakeOptions(Durability::none);
  o.recordLimit = kLimit;
  auto engine = OpenEngine(o);
  ASSERT_NE(engine, nullptr);
  runlog::Run run = OpenRun(*engine, "big", "r1");
  std::string input = GetParam().prefix;
  while (input.size() + GetParam().unit.size() <= 10000) input += GetParam().unit;
  std::uint64_t ticket_seq = 0;
  {
    Producer p(*engine);
    auto t = p.push_stdout(run, input);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    auto seq = t->wait();
    ASSERT_TRUE(seq.ok()) << seq.status().to_string();
    ticket_seq = seq.value();
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("big", "r1");
  ASSERT_TRUE(CheckRun(dir));
  std::vector<Record> recs = ParseFile(dir, "stdout.jsonl");
  EXPECT_GE(recs.size(), (input.size() + kLimit + 2) / (kLimit + 3));
  std::string joined;
  for (const Record& r : recs) {
    EXPECT_LE(r.text.size(), kLimit + 3) << "record " << r.seq;
    EXPECT_EQ(r.text.find(kReplacement), std::string::npos) << "U+FFFD in record " << r.seq;
    EXPECT_FALSE(r.bytes.has_value()) << "record " << r.seq << " split inside a character";
    joined += r.text;
  }
  EXPECT_EQ(joined, input);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(ticket_seq, recs.back().seq) << "the ticket of a split push is its last record's";
}

// A push over the limit becomes consecutive records (format.md), even while
// another producer pushes to the same channel.
TEST_F(EngineTextTest, OversizedPushStaysConsecutiveBesideAnotherProducer) {
  producer_.reset();
  engine_.reset();
  Options o = MakeOptions(Durability::none);
  o.recordLimit = 1024;
  engine_ = OpenEngine(o);
  ASSERT_NE(engine_, nullptr);
  run_ = OpenRun(*engine_, "text", "r2");
  std::vector<std::string> big;
  for (int k = 0; k < 80; ++k) {
    std::string s = "A" + std::to_string(k) + ":";
    while (s.size() < 60000) s += "\xC3\xA9";
    big.push_back(s + "\n");
  }
  std::atomic<bool> done{false};
  std::thread small([&] {
    Producer p(*engine_);
    for (int i = 0; i < 200000 && !done.load(); ++i) ASSERT_TRUE(p.push_stdout(run_, "b\n").ok());
  });
  {
    Producer p(*engine_);
    for (const std::string& s : big) ASSERT_TRUE(p.push_stdout(run_, s).ok());
  }
  done.store(true);
  small.join();
  ASSERT_TRUE(run_.close().ok());
  const std::string dir = run_dir("text", "r2");
  ASSERT_TRUE(CheckRun(dir));
  std::vector<Record> recs = ParseFile(dir, "stdout.jsonl");
  int broken = 0;
  for (const Record& r : recs) {
    if (r.bytes.has_value()) ++broken;
  }
  EXPECT_EQ(broken, 0) << "records with U+FFFD although every push was valid UTF-8";
  const std::string all = Concat(recs, false);
  for (std::size_t k = 0; k < big.size(); ++k)
    EXPECT_NE(all.find(big[k]), std::string::npos) << "push " << k << " is not in consecutive records";
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineOversizeTest,
                         ::testing::Values(OversizeCase{"ascii", "abcdefghij\n", ""},
                                           OversizeCase{"two_byte", "\xC3\xA9", "x"},
                                           OversizeCase{"three_byte", "\xE2\x82\xAC", "xy"},
                                           OversizeCase{"four_byte", "\xF0\x9F\x98\x80", "x"}),
                         [](const ::testing::TestParamInfo<OversizeCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace runlog::testing
