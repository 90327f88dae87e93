// tests/fuzz/fuzz_id_validator.cpp — the id validator (core/ids.h) against
// a reference written from the SPEC's pattern [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
// Properties: both agree; a refusal is invalid_argument whose message holds
// only printable ASCII (the id's other bytes shown as \xNN); an accepted id is
// one path component (io::check_component agrees).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/ids.h"
#include "fuzz_support.h"
#include "io/fs.h"

namespace {
bool Reference(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto word = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; };
  if (!word(id[0])) return false;
  for (char c : id.substr(1))
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace runlog;
  const std::string_view id(reinterpret_cast<const char*>(data), size);
  const bool ok = is_valid_id(id);
  if (ok != Reference(id)) fuzz::Fail("is_valid_id disagrees with the SPEC's pattern");
  const Status st = validate_id("taskId", id);
  if (st.ok() != ok) fuzz::Fail("validate_id disagrees with is_valid_id");
  if (!ok) {
    if (st.code() != Errc::invalid_argument) fuzz::Fail("a refusal that is not invalid_argument");
    for (char c : st.message())
      if (c < 0x20 || c > 0x7e) fuzz::Fail("a raw unprintable byte in the message");
  } else if (!io::check_component(id).ok()) {
    fuzz::Fail("an accepted id that is not one path component");
  }
  return 0;
}
