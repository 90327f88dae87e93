// tests/fuzz/fuzz_recovery_scanner.cpp — the recovery scanner (io/scanner.h, io/recovery.h)
// over one to three arbitrary channel files, at a chunk size the input picks.
// Properties: the same plan at every chunk size; every cut keeps a prefix
// that ends a line (or is empty); what is kept, rescanned, is clean and gives
// the same last seq (recovery twice = recovery once); check_record_line (the
// verdict every entry point gives on one line: runlog's own, or a line of
// another implementation) agrees with the scanner about every kept line.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include <simdjson.h>

#include "io/recovery.h"
#include "io/scanner.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace runlog;
  if (size == 0) return 0;
  const std::size_t files = 1 + data[0] % 3;
  const std::size_t chunk = 1 + data[0] / 3 % 64;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto parts = fuzz::Split(in, files);
  auto big = io::plan_recovery_bytes(parts);
  auto small = io::plan_recovery_bytes(parts, chunk);
  if (big.ok() != small.ok()) fuzz::Fail("the verdict depends on the chunk size");
  if (!big.ok()) {
    if (big.status().code() != Errc::corruption) fuzz::Fail("not corruption: " + big.status().to_string());
    if (big.status().message() != small.status().message()) fuzz::Fail("the message depends on the chunk size");
    return 0;
  }
  const io::RecoveryPlan& p = big.value();
  if (p.last_seq != small.value().last_seq) fuzz::Fail("last_seq depends on the chunk size");
  std::vector<std::string> kept;
  std::uint64_t records = 0;
  static simdjson::dom::parser parser;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const io::ChannelCut& c = p.channels[i];
    if (c.keep != small.value().channels[i].keep) fuzz::Fail("a cut depends on the chunk size");
    if (c.size != parts[i].size() || c.keep > c.size) fuzz::Fail("a cut past the end");
    if (c.keep > 0 && parts[i][c.keep - 1] != '\n') fuzz::Fail("a cut inside a line");
    kept.emplace_back(parts[i].substr(0, c.keep));
    records += c.records;
    std::size_t pos = 0;
    while (pos < kept.back().size()) {
      const std::size_t nl = kept.back().find('\n', pos);
      if (!io::check_record_line(std::string_view(kept.back()).substr(pos, nl + 1 - pos), parser).valid)
        fuzz::Fail("a kept line that check_record_line refuses");
      pos = nl + 1;
    }
  }
  if (records != p.last_seq) fuzz::Fail("records kept != last seq");
  std::vector<std::string_view> views(kept.begin(), kept.end());
  auto again = io::plan_recovery_bytes(views);
  if (!again.ok() || again.value().last_seq != p.last_seq) fuzz::Fail("recovering the recovered files changed them");
  for (const io::ChannelCut& c : again.value().channels)
    if (c.reason != io::CutReason::none) fuzz::Fail("the recovered files still need a cut");
  return 0;
}
