// tests/reliability/corruption_test.cpp — SPEC invariant 4 at scale: one
// flipped bit or up to 64 overwritten bytes in a record that is not the last
// of its file, in runs the engine wrote (all three channels, varied content).
// Every one is detected: reopening the run fails with corruption naming the
// file and the damaged record's byte offset, and leaves the files byte for
// byte as they were (nothing silently dropped, cut or renumbered); `verify`
// (every tenth case) reports the same file and offset. Size:
// RUNLOG_CORRUPTION_CASES (default 10,000; 1,000,000 with RUNLOG_LONG=1; a
// tenth under the sanitizers, said in the output).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "io/verify.h"
#include "reliability/crash_harness.h"
#include "support/crash_fs.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

struct Line {
  std::string file;  // "t0/r1/stdout.jsonl"
  std::uint64_t offset = 0, length = 0;
};

TEST(CorruptionTest, MidFileDamageIsAlwaysDetectedWithFileAndOffset) {
  const std::uint64_t cases = SizeFromEnv("RUNLOG_CORRUPTION_CASES", UnderSanitizer() ? 500 : 10000, 1000000);
  const std::uint64_t seed = SeedFromEnv(9090);
  auto base = std::make_shared<CrashFs>();
  const History h = RandomWorkload(base, {4, 2, 120, 8, Durability::batch}, seed);
  // Every line that is not the last of its file.
  std::vector<Line> lines;
  for (const RunHistory& r : h) {
    for (const char* f : kChannelFiles) {
      const std::string rel = r.task + "/" + r.run + "/" + f;
      std::string content;
      ASSERT_TRUE(base->ReadNow(kCrashRoot, rel, &content));
      std::uint64_t pos = 0;
      std::vector<Line> mine;
      while (pos < content.size()) {
        const std::size_t nl = content.find('\n', pos);
        ASSERT_NE(nl, std::string::npos);
        mine.push_back({rel, pos, nl + 1 - pos});
        pos = nl + 1;
      }
      if (!mine.empty()) mine.pop_back();
      lines.insert(lines.end(), mine.begin(), mine.end());
    }
  }
  ASSERT_GT(lines.size(), 100u);
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t flips = 0, verified = 0;
  int failures = 0;
  for (std::uint64_t i = 0; i < cases && failures < 5; ++i) {
    const Line& ln = lines[rng() % lines.size()];
    std::string content;
    ASSERT_TRUE(base->ReadNow(kCrashRoot, ln.file, &content));
    std::string damaged = content;
    std::string what;
    if (rng() % 2 == 0) {
      const std::uint64_t at = ln.offset + rng() % ln.length;
      const int bit = static_cast<int>(rng() % 8);
      damaged[at] = static_cast<char>(damaged[at] ^ (1 << bit));
      what = "bit " + std::to_string(bit) + " of byte " + std::to_string(at);
      ++flips;
    } else {
      const std::uint64_t len = 1 + rng() % std::min<std::uint64_t>(64, ln.length);
      const std::uint64_t at = ln.offset + rng() % (ln.length - len + 1);
      for (std::uint64_t k = 0; k < len; ++k) damaged[at + k] = static_cast<char>(rng());
      what = std::to_string(len) + " bytes overwritten at " + std::to_string(at);
    }
    if (damaged == content) continue;
    auto fs = base->Copy();
    {
      const std::string dir = ln.file.substr(0, ln.file.rfind('/'));
      auto root = fs->open_root(kCrashRoot, false, 0).value();
      auto task = root->open_dir(dir.substr(0, dir.find('/')), false, 0).value();
      auto run = task->open_dir(dir.substr(dir.find('/') + 1), false, 0).value();
      auto file = run->open_file(ln.file.substr(ln.file.rfind('/') + 1), io::OpenMode::read_write, 0).value();
      ASSERT_TRUE(file->pwrite(damaged.data(), damaged.size(), 0).ok());
    }
    const std::string task_id = ln.file.substr(0, ln.file.find('/'));
    const std::string rest = ln.file.substr(ln.file.find('/') + 1);
    const std::string run_id = rest.substr(0, rest.find('/'));
    const std::string at = "/" + ln.file + ":" + std::to_string(ln.offset) + ":";
    std::string err;
    {
      auto engine = Engine::open(CrashOptions(fs)).value();
      auto r = engine->open_run(CrashMeta(task_id, run_id));
      if (r.ok()) {
        err = "reopened without complaint";
      } else if (r.status().code() != Errc::corruption || r.status().message().find(at) == std::string::npos) {
        err = "not corruption at " + at + ": " + r.status().to_string();
      }
    }
    std::string after;
    fs->ReadNow(kCrashRoot, ln.file, &after);
    if (err.empty() && after != damaged) err = "the damaged file was rewritten";
    if (err.empty() && i % 10 == 0) {
      // verify over the same run on a real disk (verify classifies its paths
      // with stat(), so its fs option alone cannot serve it).
      TempDir real("runlog-corrupt");
      const std::string run_rel = task_id + "/" + run_id;
      const std::string run_dir = real / run_rel;
      ::mkdir((real / task_id).c_str(), 0700);
      ::mkdir(run_dir.c_str(), 0700);
      for (const std::string& f : fs->ListFiles(kCrashRoot)) {
        if (f.rfind(run_rel + "/", 0) != 0 || f.find('/', run_rel.size() + 1) != std::string::npos) continue;
        std::string bytes;
        fs->ReadNow(kCrashRoot, f, &bytes);
        WriteFile(real / f, bytes);
      }
      io::VerifyOptions vo;
      vo.repair = true;  // must refuse: corruption is never rewritten
      const std::vector<std::string> paths{run_dir};
      auto rep = io::verify(paths, vo);
      bool found = false;
      if (rep.ok())
        for (const io::VerifyProblem& p : rep->problems) found = found || (p.file == real / ln.file && p.offset == ln.offset);
      if (!found) {
        err = "verify did not report " + ln.file + ":" + std::to_string(ln.offset) + ": ";
        if (!rep.ok()) err += rep.status().to_string();
        else
          for (const io::VerifyProblem& p : rep->problems) err += "\n    " + p.to_string();
      }
      if (err.empty() && ReadFile(real / ln.file) != damaged) err = "verify --repair rewrote a corrupt file";
      ++verified;
    }
    if (!err.empty()) {
      ++failures;
      ADD_FAILURE() << ln.file << ", record at " << ln.offset << ", " << what << ": " << err
                    << "\n  replay: " << ReplayCommand(seed);
    }
  }
  std::printf("[ corruption ] %llu mid-file corruptions (%llu bit flips, the rest 1-64 overwritten bytes) in %zu "
              "records, all detected with file and offset (%llu also by verify), %.1f s%s\n",
              static_cast<unsigned long long>(cases), static_cast<unsigned long long>(flips), lines.size(),
              static_cast<unsigned long long>(verified),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              UnderSanitizer() ? " (reduced size: sanitizer build)" : "");
}

}  // namespace
}  // namespace runlog::testing
