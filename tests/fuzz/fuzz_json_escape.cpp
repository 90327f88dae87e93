// tests/fuzz/fuzz_json_escape.cpp — the JSON escaper with UTF-8 sanitizing
// (core/utf8.h) and the chunk-line encoder (core/line_encoder.h) over
// arbitrary bytes. Properties: the output fits the bound, is valid UTF-8 and,
// in quotes, one JSON string that simdjson parses; *valid says whether the
// input was valid UTF-8 (and then the string decodes to the input); the
// encoded line passes check_line; split points and incomplete tails keep
// their documented ranges; both escapers (portable, shuffle) write the same bytes.
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/line_encoder.h"
#include "core/utf8.h"
#include "core/utf8_internal.h"
#include "fuzz_support.h"
#include "io/recovery.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace runlog;
  const char* in = reinterpret_cast<const char*>(data);
  std::vector<char> out(json_escape_bound(size) + 2);
  out[0] = '"';
  bool valid = false;
  char* end = json_escape_utf8(in, size, out.data() + 1, &valid);
  const std::size_t n = static_cast<std::size_t>(end - out.data()) - 1;
  if (n > json_escape_bound(size)) fuzz::Fail("past the bound");
  if (valid != utf8_is_valid(in, size)) fuzz::Fail("*valid disagrees with utf8_is_valid");
  if (!utf8_is_valid(out.data() + 1, n)) fuzz::Fail("escaped output is not valid UTF-8");
  *end = '"';
  simdjson::padded_string json(out.data(), n + 2);
  simdjson::dom::parser parser;
  std::string_view s;
  if (parser.parse(json).get_string().get(s) != simdjson::SUCCESS) fuzz::Fail("not one JSON string");
  if (valid && s != std::string_view(in, size)) fuzz::Fail("a valid input did not round-trip");
  {  // both implementations write the same bytes
    std::vector<char> other(json_escape_bound(size));
    bool other_valid = false;
    char* e = utf8_detail::escape_portable(in, size, other.data(), &other_valid);
    if (utf8_detail::shuffle_available()) {
      std::vector<char> shuffled(json_escape_bound(size));
      bool shuffled_valid = false;
      char* e2 = utf8_detail::escape_shuffle(in, size, shuffled.data(), &shuffled_valid);
      if (e2 - shuffled.data() != e - other.data() || shuffled_valid != other_valid ||
          !std::equal(other.data(), e, shuffled.data()))
        fuzz::Fail("the shuffle and portable escapers disagree");
    }
    if (static_cast<std::size_t>(e - other.data()) != n || !std::equal(other.data(), e, out.data() + 1))
      fuzz::Fail("the portable escaper disagrees with json_escape_utf8");
  }

  const std::size_t tail = utf8_incomplete_tail(in, size);
  if (tail > 3 || tail > size) fuzz::Fail("incomplete tail out of range");
  if (size > 0) {
    const std::size_t max = data[0] % size;
    const std::size_t k = utf8_split_point(in, size, max);
    if (k > max || (max > 0 && k == 0) || (max >= 4 && k + 3 < max)) fuzz::Fail("split point out of range");
  }

  std::vector<char> line(detail::chunk_line_bound(size));
  const std::size_t len =
      detail::encode_chunk_line(line.data(), 1 + size, Channel::stdout_, 1764000000123, in, size);
  if (len > line.size()) fuzz::Fail("line past its bound");
  if (!io::check_line(std::string_view(line.data(), len)).valid) fuzz::Fail("an encoded line check_line refuses");
  return 0;
}
