// tests/fuzz/fuzz_replay_filter.cpp — replay filters over an arbitrary run
// folder. The input is split at "\n@@\n" into: filter bytes, worker.jsonl,
// stdout.jsonl, stderr.jsonl, meta.json, state.json, durable.seq.
// Properties: every entry served has seq > after, a channel the filter asks
// for, a file that is that channel's; seqs strictly increase across the
// merge; no more than `limit` entries.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "io/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace runlog;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto parts = fuzz::Split(in, 7);
  auto fs = std::make_shared<testing::CrashFs>();
  const char* names[] = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl", "meta.json", "state.json", "durable.seq"};
  for (int i = 0; i < 6; ++i)
    if (!parts[static_cast<std::size_t>(i) + 1].empty() || i < 3)
      fuzz::Put(*fs, "runs", {"t", "r"}, names[i], parts[static_cast<std::size_t>(i) + 1]);

  std::string fb(parts[0]);
  fb.resize(8, '\0');
  const auto b = [&](int i) { return static_cast<std::uint8_t>(fb[static_cast<std::size_t>(i)]); };
  io::ReadFilter f;
  f.after = b(0) % 40;
  f.channels = static_cast<std::uint8_t>(b(1) & io::kAllChannels);
  if (f.channels == 0) f.channels = io::kAllChannels;
  f.types = static_cast<std::uint16_t>((b(2) | (b(3) << 8)) & 0x1ff);
  f.levels = static_cast<std::uint8_t>(b(4) & 0x0f);
  f.limit = b(5) % 16;
  static const char* const kTimes[] = {"", "2026-01-01T00:00:00.000Z", "2026-11-21T10:17:00.123Z",
                                       "2030-12-31T23:59:59.999Z"};
  f.since = kTimes[b(6) & 3];
  f.until = kTimes[(b(6) >> 2) & 3];

  io::ReaderOptions ro;
  ro.fs = fs;
  ro.first_read_bytes = 64 + b(7) % 128;
  ro.max_read_bytes = 512;
  ro.batch_bytes = 512;
  io::LogReader reader(ro);
  io::Source src;
  src.kind = io::SourceKind::run;
  src.dir = "runs/t/r";
  if (!reader.open(src, f).ok()) return 0;
  const io::Entry* e = nullptr;
  std::uint64_t prev = 0, served = 0;
  std::string out;
  for (;;) {
    if (!reader.next(&e).ok() || e == nullptr) break;
    ++served;
    if (e->seq() <= f.after) fuzz::Fail("an entry at or below --after");
    if (e->seq() <= prev) fuzz::Fail("seqs did not increase across the merge");
    prev = e->seq();
    if ((f.channels & io::channel_bit(e->channel())) == 0) fuzz::Fail("an entry of a channel not asked for");
    if (f.limit != 0 && served > f.limit) fuzz::Fail("more entries than the limit");
    out.clear();
    io::append_jsonl(*e, reader.context(), &out);
  }
  return 0;
}
