// tests/fuzz/fuzz_line_reader.cpp — the reader (io/reader.h) over one
// arbitrary .jsonl file: every entry it serves is written out as the
// contract's shape, as text and as raw bytes; errors are values, never
// crashes. Properties: seqs served strictly increase; every append_jsonl
// output is one line ending in '\n'.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "io/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace runlog;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // One file system and one reader for the whole run (as `runlog replay`
  // reuses its reader across sources); the file is rewritten per input.
  static const auto fs = std::make_shared<testing::CrashFs>();
  static io::LogReader reader([] {
    io::ReaderOptions ro;
    ro.fs = fs;
    ro.first_read_bytes = 64;  // small reads: lines cross buffer ends
    ro.max_read_bytes = 256;
    ro.batch_bytes = 256;
    return ro;
  }());
  fuzz::Put(*fs, "root", {}, "log.jsonl", in);
  io::Source src;
  src.kind = io::SourceKind::file;
  src.dir = "root";
  src.file = "log.jsonl";
  if (!reader.open(src).ok()) return 0;
  const io::Entry* e = nullptr;
  std::uint64_t prev = 0;
  std::string out;
  for (int i = 0; i < 100000; ++i) {
    Status st = reader.next(&e);
    if (!st.ok() || e == nullptr) break;
    if (reader.last_seq() <= prev && prev != 0) fuzz::Fail("seq did not increase");
    prev = reader.last_seq();
    out.clear();
    io::append_jsonl(*e, reader.context(), &out);
    if (out.empty() || out.back() != '\n' || out.find('\n') != out.size() - 1)
      fuzz::Fail("append_jsonl did not give one line");
    out.clear();
    (void)io::append_text(*e, (i & 1) != 0, &out);
    out.clear();
    (void)io::append_raw(*e, &out);
  }
  return 0;
}
