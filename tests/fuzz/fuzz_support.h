// tests/fuzz/fuzz_support.h — helpers shared by the libFuzzer targets: put
// fuzzer bytes into files of an in-memory file system (support/crash_fs.h),
// split one input into several parts.
//
// Threads: each fuzzer runs single-threaded; nothing here is shared.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "support/crash_fs.h"

namespace runlog::fuzz {

/// Stops the fuzzer with a message: a property the target checks failed.
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::abort();
}

/// Splits `in` at each occurrence of the 4-byte separator "\n@@\n" into at most `n` parts.
inline std::vector<std::string_view> Split(std::string_view in, std::size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const std::size_t at = in.find("\n@@\n");
    if (at == std::string_view::npos) break;
    out.push_back(in.substr(0, at + 1));  // the part keeps its '\n'
    in.remove_prefix(at + 4);
  }
  out.push_back(in);
  while (out.size() < n) out.emplace_back();
  return out;
}

/// Writes `content` to root/dir/name on `fs` (folders made as needed).
inline void Put(testing::CrashFs& fs, const std::string& root, const std::vector<std::string>& dirs,
                const std::string& name, std::string_view content) {
  auto d = fs.open_root(root, true, 0700);
  if (!d.ok()) Fail("open_root: " + d.status().to_string());
  std::unique_ptr<io::Dir> cur = std::move(d).value();
  for (const std::string& sub : dirs) {
    auto next = cur->open_dir(sub, true, 0700);
    if (!next.ok()) Fail("open_dir: " + next.status().to_string());
    cur = std::move(next).value();
  }
  auto f = cur->open_file(name, io::OpenMode::create, 0600);
  if (!f.ok()) Fail("open_file: " + f.status().to_string());
  if (!f.value()->truncate(0).ok()) Fail("truncate");
  if (!content.empty() && !f.value()->pwrite(content.data(), content.size(), 0).ok()) Fail("pwrite");
}

}  // namespace runlog::fuzz
