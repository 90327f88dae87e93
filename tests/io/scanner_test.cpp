// tests/io/scanner_test.cpp — the one scanner (ScanReporter told every record
// and every damaged region, with file offsets), the one decision (decide():
// cuts above W, corruption below it), the framing of core/line_format.h,
// crc32c_shift, and read_durable_mark over real files.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/chunk_codec.h"
#include "core/crc32c.h"
#include "core/line_format.h"
#include "io/fs.h"
#include "io/run_dir.h"
#include "io/scanner.h"

namespace runlog::io {
namespace {

std::string Line(std::uint64_t seq, std::string_view body = "\"channel\":\"stdout\",\"text\":\"x\"") {
  std::string out(body.size() + format::kFrameBytes, '\0');
  out.resize(format::frame_line(out.data(), seq, body));
  return out;
}

class ScannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/runlog-scanner-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(posix_fs()->open_root(tmp_, false, 0700).get(dir_).ok());
  }
  void TearDown() override {
    dir_.reset();
    std::filesystem::remove_all(tmp_);
  }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(tmp_ + "/" + name, std::ios::binary) << bytes;
  }
  std::unique_ptr<File> Open(const std::string& name) {
    std::unique_ptr<File> f;
    EXPECT_TRUE(dir_->open_file(name, OpenMode::read_only, 0).get(f).ok());
    return f;
  }
  std::string tmp_;
  std::unique_ptr<Dir> dir_;
};

// Records what the scanner reports.
struct Log final : ScanReporter {
  std::vector<ScannedRecord> records;
  std::vector<ScanDamage> damaged;
  void record(const File&, const ScannedRecord& r) override { records.push_back(r); }
  void damage(const File&, const ScanDamage& d) override { damaged.push_back(d); }
};

TEST_F(ScannerTest, ReportsEachRecordAndATornTailWithOffsets) {
  const std::string a = Line(1), b = Line(2);
  Write("f.jsonl", a + b + "{\"seq\":3,\"chan");
  auto f = Open("f.jsonl");
  Log log;
  ChannelScan scan;
  ASSERT_TRUE(scan_channel(*f, &log, 7).get(scan).ok());  // small reads: lines cross them
  ASSERT_EQ(log.records.size(), 2u);
  EXPECT_EQ(log.records[0].seq, 1u);
  EXPECT_EQ(log.records[0].offset, 0u);
  EXPECT_EQ(log.records[1].offset, a.size());
  EXPECT_EQ(log.records[1].length, b.size());
  ASSERT_EQ(log.damaged.size(), 1u);
  EXPECT_EQ(log.damaged[0].offset, a.size() + b.size());
  EXPECT_EQ(log.damaged[0].length, 14u);
  EXPECT_FALSE(log.damaged[0].followed);
  EXPECT_STREQ(log.damaged[0].what, "no final newline");
  EXPECT_EQ(scan.records, 2u);
  EXPECT_EQ(scan.valid_end, a.size() + b.size());
  EXPECT_EQ(scan.size, a.size() + b.size() + 14);
}

TEST_F(ScannerTest, ReportsDamageFollowedByARecordAndFailsWithItsOffset) {
  std::string a = Line(1), b = Line(2), c = Line(3);
  b[10] ^= 0x01;  // one flipped bit: a bad crc in the middle
  Write("f.jsonl", a + b + c);
  auto f = Open("f.jsonl");
  Log log;
  Result<ChannelScan> scan = scan_channel(*f, &log);
  ASSERT_EQ(scan.status().code(), Errc::corruption);
  EXPECT_NE(scan.status().message().find("f.jsonl:" + std::to_string(a.size()) + ": "), std::string::npos)
      << scan.status().message();
  ASSERT_EQ(log.damaged.size(), 1u);
  EXPECT_TRUE(log.damaged[0].followed);
  EXPECT_EQ(log.damaged[0].offset, a.size());
  EXPECT_EQ(log.damaged[0].length, b.size());
  EXPECT_EQ(log.records.size(), 1u);  // the record after the damage is not handed out
}

TEST(DecideTest, CutsAboveTheFloorAndRefusesBelowIt) {
  ChannelScan torn;
  torn.size = 300;
  torn.valid_end = 200;
  torn.torn_what = "bad crc";
  torn.records = 4;
  ChannelScan past;
  past.size = 500;
  past.valid_end = 500;
  past.records = 2;
  past.past = true;
  past.past_seq = 9;
  past.past_offset = 120;
  const std::vector<ChannelScan> scans = {torn, past};
  const std::vector<std::string> paths = {"a.jsonl", "b.jsonl"};

  RecoveryPlan plan;
  ASSERT_TRUE(decide(scans, paths, 6, 6).get(plan).ok());
  EXPECT_EQ(plan.last_seq, 6u);
  EXPECT_EQ(plan.channels[0].keep, 200u);
  EXPECT_EQ(plan.channels[0].reason, CutReason::torn_tail);
  EXPECT_EQ(plan.channels[1].keep, 120u);
  EXPECT_EQ(plan.channels[1].reason, CutReason::past_hole);
  EXPECT_TRUE(plan.cuts_anything());

  // W = 7: seq 7 was acknowledged, the seqs are whole only up to 6.
  Result<RecoveryPlan> bad = decide(scans, paths, 6, 7);
  ASSERT_EQ(bad.status().code(), Errc::corruption);
  EXPECT_EQ(bad.status().message().rfind("a.jsonl:200: bad crc", 0), 0u) << bad.status().message();
  EXPECT_NE(bad.status().message().find("seq 7 is missing"), std::string::npos);

  // No damaged tail: the corruption is named at the record after the hole.
  const std::vector<ChannelScan> holes = {past};
  const std::vector<std::string> one = {"b.jsonl"};
  bad = decide(holes, one, 2, 5);
  ASSERT_EQ(bad.status().code(), Errc::corruption);
  EXPECT_EQ(bad.status().message().rfind("b.jsonl:120: seq 9 follows a hole", 0), 0u) << bad.status().message();

  // Nothing damaged, nothing past N: clean.
  ChannelScan whole;
  whole.size = whole.valid_end = 80;
  const std::vector<ChannelScan> clean = {whole};
  ASSERT_TRUE(decide(clean, one, 3, 3).get(plan).ok());
  EXPECT_FALSE(plan.cuts_anything());
}

TEST_F(ScannerTest, ASingleFileKeepsEveryWholeLineAndCutsOnlyItsTail) {
  // Seqs 5, 9: not a stream (no 1..N), yet nothing whole is cut.
  const std::string a = Line(5), b = Line(9);
  Write("f.jsonl", a + b + "garbage");
  auto f = Open("f.jsonl");
  RecoveryPlan plan;
  ASSERT_TRUE(plan_single_file(*f).get(plan).ok());
  ASSERT_EQ(plan.channels.size(), 1u);
  EXPECT_EQ(plan.channels[0].keep, a.size() + b.size());
  EXPECT_EQ(plan.channels[0].records, 2u);
  EXPECT_EQ(plan.channels[0].reason, CutReason::torn_tail);
}

TEST(LineFormatTest, FrameLineIsWhatTheWritersWriteAndTheScannerTakes) {
  const std::string body = "\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"hi\"}";
  const std::string line = Line(42, body);
  EXPECT_EQ(line.rfind(format::kSeqPrefix, 0), 0u);
  const LineVerdict v = check_line(line);
  EXPECT_TRUE(v.valid) << v.what;
  EXPECT_EQ(v.seq, 42u);
  // A conversation's stored line is the same framing.
  std::string stored(detail::stored_line_bound(body.size()), '\0');
  stored.resize(detail::encode_stored_line(stored.data(), 42, body));
  EXPECT_EQ(stored, line);
  EXPECT_EQ(line.substr(line.size() - format::kCrcSuffixBytes, format::kCrcKey.size()), format::kCrcKey);
}

TEST(Crc32cShiftTest, TheCrcOfASuffixFollowsFromTheWholeAndThePrefix) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string s(rng() % 300, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    const std::size_t cut = s.empty() ? 0 : rng() % (s.size() + 1);
    const std::uint32_t whole = crc32c(s.data(), s.size());
    const std::uint32_t prefix = crc32c(s.data(), cut);
    const std::uint32_t suffix = crc32c(s.data() + cut, s.size() - cut);
    EXPECT_EQ(crc32c_shift(prefix, s.size() - cut) ^ suffix, whole) << "size " << s.size() << " cut " << cut;
  }
}

TEST_F(ScannerTest, DurableMarkReadsTheWatermarkAndTheLock) {
  DurableMark m;
  ASSERT_TRUE(read_durable_mark(*dir_).get(m).ok());
  EXPECT_FALSE(m.present);

  Write("durable.seq", "");
  ASSERT_TRUE(read_durable_mark(*dir_).get(m).ok());
  EXPECT_TRUE(m.present);
  EXPECT_EQ(m.seq, std::optional<std::uint64_t>(0));  // made, never written
  EXPECT_FALSE(m.live);

  Write("durable.seq", "00000000000000000017\n");
  ASSERT_TRUE(read_durable_mark(*dir_).get(m).ok());
  EXPECT_EQ(m.seq, std::optional<std::uint64_t>(17));
  EXPECT_EQ(m.text, "00000000000000000017\n");

  // A writer's lock, held through another open file description.
  std::unique_ptr<File> writer;
  ASSERT_TRUE(dir_->open_file("durable.seq", OpenMode::read_write, 0).get(writer).ok());
  ASSERT_TRUE(writer->lock_exclusive().ok());
  ASSERT_TRUE(read_durable_mark(*dir_).get(m).ok());
  EXPECT_TRUE(m.live);
  writer.reset();

  Write("durable.seq", "17\n");
  ASSERT_TRUE(read_durable_mark(*dir_).get(m).ok());
  EXPECT_FALSE(m.seq.has_value());  // malformed: vouches for nothing
}

}  // namespace
}  // namespace runlog::io
