// bench/encode_bench.cpp — the sequencer's per-record work: one stdout chunk
// to one line (escape, UTF-8 check, createdAt, CRC32C). Checks its output
// against a simdjson parse before timing.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/line_encoder.h"
#include "core/utf8.h"
#include "core/utf8_internal.h"

namespace {

std::string sample_text(std::size_t n, std::uint64_t seed) {
  static constexpr char kChars[] = "abcdefghij klmnopqrst uvwxyz\"\\\tABCDEFGHIJ\n0123456789";
  std::mt19937_64 rng(seed);
  std::string s(n, ' ');
  for (auto& c : s) c = kChars[rng() % (sizeof kChars - 1)];
  return s;
}

void check_line(const char* line, std::size_t len, const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line, len);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) throw std::runtime_error("encoded line is not JSON");
  std::string_view got;
  if (doc["text"].get_string().get(got) || got != text) throw std::runtime_error("text did not round-trip");
  std::string_view crc;
  if (doc["crc"].get_string().get(crc)) throw std::runtime_error("no crc");
  std::string_view body(line, len);
  std::uint32_t want = runlog::crc32c(line, body.find(R"(,"crc":")"));
  char hex[8];
  runlog::crc32c_hex(want, hex);
  if (crc != std::string_view(hex, 8)) throw std::runtime_error("crc mismatch");
}

void BM_EncodeChunkLine(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(sample_text(size, static_cast<std::uint64_t>(i)));
  std::vector<char> out(runlog::detail::chunk_line_bound(size));
  std::size_t n = runlog::detail::encode_chunk_line(out.data(), 1, runlog::Channel::stdout_, 1763720220123, texts[0].data(), size);
  check_line(out.data(), n, texts[0]);
  std::uint64_t seq = 1;
  std::size_t bytes = 0;
  for (auto _ : state) {
    ++seq;
    const std::string& t = texts[seq & 63];
    const auto created = 1763720220123 + static_cast<std::int64_t>(seq);
    bytes += runlog::detail::encode_chunk_line(out.data(), seq, runlog::Channel::stdout_, created, t.data(), t.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_EncodeChunkLine)->Arg(100)->Arg(1024)->Arg(4096);

}  // namespace

// The two escapers on 64 KiB of text: W1/W2's (a special byte every ~13) and
// `seq`'s output (a newline every ~8). Checks that both write the same bytes.
void BM_JsonEscape(benchmark::State& state) {
  const bool shuffle = state.range(0) == 1;
  const bool digits = state.range(1) == 1;
  const bool plain = state.range(1) == 2;
  if (shuffle && !runlog::utf8_detail::shuffle_available()) {
    state.SkipWithError("no SSSE3 on this CPU");
    return;
  }
  std::string text;
  if (digits) {
    for (int i = 1; text.size() < 65536; ++i) text += std::to_string(1000000 + i) + "\n";
  } else if (plain) {
    text = sample_text(65536, 7);
    for (char& c : text)
      if (c == '"' || c == '\\' || c == '\t' || c == '\n') c = 'x';
  } else {
    text = sample_text(65536, 7);
  }
  auto f = shuffle ? &runlog::utf8_detail::escape_shuffle : &runlog::utf8_detail::escape_portable;
  std::vector<char> out(runlog::json_escape_bound(text.size()));
  std::vector<char> other(out.size());
  const char* e1 = f(text.data(), text.size(), out.data(), nullptr);
  const char* e2 = runlog::utf8_detail::escape_portable(text.data(), text.size(), other.data(), nullptr);
  if (e1 - out.data() != e2 - other.data() || !std::equal(static_cast<const char*>(out.data()), e1, other.data()))
    throw std::runtime_error("the escapers disagree");
  for (auto _ : state) {
    benchmark::DoNotOptimize(f(text.data(), text.size(), out.data(), nullptr));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.SetLabel(std::string(shuffle ? "shuffle" : "portable") + (digits ? ", seq output" : plain ? ", no special byte" : ", W1 text"));
}
BENCHMARK(BM_JsonEscape)->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1})->Args({0, 2})->Args({1, 2});
