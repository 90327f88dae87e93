// tests/reliability/crash_harness.cpp — see crash_harness.h.
#include "reliability/crash_harness.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <random>
#include <string_view>
#include <thread>

#include "support/run_files.h"

namespace runlog::testing {
namespace {

}  // namespace

RunMetadata CrashMeta(const std::string& task, const std::string& run) {
  RunMetadata m;
  m.taskId = task;
  m.runId = run;
  m.stepId = "step-1";
  m.stepName = "crash";
  m.workerKind = "test";
  m.checkpointMode = "none";
  m.repoRoot = "/repo";
  return m;
}

namespace {

// One push as a producer thread saw it.
struct Seen {
  std::size_t run = 0;
  std::uint64_t seq = 0;
  std::string fragment, channel;
  bool acked = false;
  double wait_ms = 0;
};

// Ticket::wait(), timed.
bool TimedWait(const Ticket& t, Seen* s) {
  const auto start = std::chrono::steady_clock::now();
  auto r = t.wait();
  s->wait_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (r.ok()) {
    EXPECT_EQ(r.value(), t.seq()) << "an acknowledgement with another seq than the ticket's";
  }
  return r.ok();
}

// The fragment a record's line must contain: its distinctive text, as the
// encoder escapes it ('\n' -> "\n").
std::string TextFragment(std::string_view text_without_newline) {
  return "\"text\":\"" + std::string(text_without_newline) + "\\n\"";
}
std::string MessageFragment(std::string_view message) { return "\"message\":\"" + std::string(message) + "\""; }

// Pushes one record of the kind `kind` (0: event, 1: stderr, else stdout).
Result<Ticket> PushOne(Producer& p, const Run& run, int kind, const std::string& tag, Seen* seen) {
  if (kind == 0) {
    seen->fragment = MessageFragment(tag);
    seen->channel = "worker";
    return p.push_event(run, {EventType::step_prepared, LogLevel::info, tag, "{\"k\":1}"});
  }
  seen->fragment = TextFragment(tag);
  seen->channel = kind == 1 ? "stderr" : "stdout";
  return kind == 1 ? p.push_stderr(run, tag + "\n") : p.push_stdout(run, tag + "\n");
}

void WaitAll(std::vector<std::pair<std::size_t, Ticket>>* waiting, std::vector<Seen>* seen) {
  for (auto& [index, ticket] : *waiting) (*seen)[index].acked = TimedWait(ticket, &(*seen)[index]);
  waiting->clear();
}

History Merge(History h, const std::vector<std::vector<Seen>>& per_thread) {
  for (const auto& v : per_thread) {
    for (const Seen& s : v) {
      RunHistory& r = h[s.run];
      if (r.pushed.count(s.seq) != 0) ADD_FAILURE() << r.task << "/" << r.run << ": two pushes got seq " << s.seq << " (" << r.pushed[s.seq] << " and " << s.fragment << ")";
      r.pushed[s.seq] = s.fragment;
      r.channel[s.seq] = s.channel;
      if (s.acked) r.acked.insert(s.seq);
      r.max_wait_ms = std::max(r.max_wait_ms, s.wait_ms);
    }
  }
  return h;
}

std::string ReadNow(const CrashFs& fs, const RunHistory& r, std::string_view file) {
  std::string out;
  fs.ReadNow(kCrashRoot, r.task + "/" + r.run + "/" + std::string(file), &out);
  return out;
}

// The whole-run check over what `fs` holds now; "" when it holds.
std::string CheckRunFiles(const CrashFs& fs, const RunHistory& r, std::uint64_t n) {
  const std::string where = r.task + "/" + r.run + "/";
  std::set<std::uint64_t> seqs;
  for (const char* file : kChannelFiles) {
    const std::string content = ReadNow(fs, r, file);
    const std::string channel(std::string_view(file).substr(0, std::string_view(file).find('.')));
    std::size_t pos = 0;
    std::uint64_t prev = 0;
    while (pos < content.size()) {
      std::size_t nl = content.find('\n', pos);
      if (nl == std::string::npos)
        return where + file + ":" + std::to_string(pos) + ": a line without its newline survived recovery";
      const std::string_view line(content.data() + pos, nl + 1 - pos);
      if (auto ok = CheckLine(line); !ok)
        return where + file + ":" + std::to_string(pos) + ": invalid line after recovery: " + ok.message();
      std::uint64_t seq = 0;
      for (std::size_t i = 7; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
        seq = seq * 10 + static_cast<std::uint64_t>(line[i] - '0');
      if (seq <= prev) return where + file + ": seq " + std::to_string(seq) + " after " + std::to_string(prev);
      prev = seq;
      if (!seqs.insert(seq).second) return where + file + ": seq " + std::to_string(seq) + " twice";
      auto it = r.pushed.find(seq);
      if (it == r.pushed.end()) return where + file + ": seq " + std::to_string(seq) + " was never pushed";
      if (r.channel.at(seq) != channel || line.find(it->second) == std::string_view::npos)
        return where + file + ": seq " + std::to_string(seq) + " holds another record's content: " +
               std::string(line);
      pos = nl + 1;
    }
  }
  if (seqs.size() != n || (n != 0 && *seqs.rbegin() != n))
    return where + ": seqs on disk are not 1.." + std::to_string(n) + " (" + std::to_string(seqs.size()) +
           " records, last " + std::to_string(seqs.empty() ? 0 : *seqs.rbegin()) + ")";
  for (std::uint64_t s : r.acked)
    if (s > n) return where + ": acknowledged seq " + std::to_string(s) + " lost (recovered 1.." + std::to_string(n) + ")";
  const std::string durable = ReadNow(fs, r, "durable.seq");
  if (durable.size() != 21 || std::strtoull(durable.c_str(), nullptr, 10) != n)
    return where + "durable.seq is '" + durable + "' after recovering 1.." + std::to_string(n);
  return "";
}

}  // namespace

Options CrashOptions(const std::shared_ptr<CrashFs>& fs, Durability d) {
  Options o;
  o.runsRoot = kCrashRoot;
  o.fs = fs;
  o.durability = d;
  o.syncThreads = 2;
  o.syncfsFiles = 1;
  o.maxBatchBytes = std::size_t{64} << 10;
  o.maxBatchDelay = std::chrono::microseconds(200);
  return o;
}

History RandomWorkload(const std::shared_ptr<CrashFs>& fs, const WorkloadShape& shape, std::uint64_t seed) {
  History h;
  for (int i = 0; i < shape.runs; ++i)
    h.push_back({"t" + std::to_string(i % 2), "r" + std::to_string(i), false, {}, {}, {}, 0});
  Options options = CrashOptions(fs, shape.durability);
  options.syncfsFiles = shape.syncfs_files;
  options.journal = shape.journal;
  options.journalFileBytes = 16 * 1024;
  auto opened = Engine::open(options);
  if (!opened.ok()) return h;
  std::unique_ptr<Engine> engine = std::move(opened).value();
  std::vector<Run> runs(h.size());
  std::vector<std::size_t> open_ones;
  for (std::size_t i = 0; i < h.size(); ++i) {
    auto r = engine->open_run(CrashMeta(h[i].task, h[i].run));
    if (!r.ok()) continue;
    runs[i] = r.value();
    h[i].opened = true;
    open_ones.push_back(i);
  }
  std::vector<std::vector<Seen>> per_thread(static_cast<std::size_t>(shape.producers));
  if (!open_ones.empty()) {
    std::vector<std::thread> threads;
    for (int t = 0; t < shape.producers; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(seed * 1000003u + static_cast<std::uint64_t>(t));
        Producer p(*engine);
        std::vector<Seen>& seen = per_thread[static_cast<std::size_t>(t)];
        std::vector<std::pair<std::size_t, Ticket>> waiting;
        for (int i = 0; i < shape.pushes_per_producer; ++i) {
          const std::size_t run = open_ones[rng() % open_ones.size()];
          const int kind = static_cast<int>(rng() % 10);
          Seen s;
          s.run = run;
          const std::string tag = "p" + std::to_string(t) + " i" + std::to_string(i) + " " + h[run].run;
          auto ticket = PushOne(p, runs[run], kind, tag, &s);
          if (!ticket.ok()) break;  // the run fail-stopped: nothing of this push was accepted
          s.seq = ticket->seq();
          seen.push_back(std::move(s));
          waiting.emplace_back(seen.size() - 1, ticket.value());
          if (static_cast<int>(waiting.size()) >= shape.wait_every) WaitAll(&waiting, &seen);
        }
        WaitAll(&waiting, &seen);
      });
    }
    for (auto& t : threads) t.join();
  }
  (void)engine->close_all();
  engine.reset();
  return Merge(std::move(h), per_thread);
}

History ScriptedWorkload(const std::shared_ptr<CrashFs>& fs, bool journal) {
  History h{{"t", "a", false, {}, {}, {}, 0}, {"t", "b", false, {}, {}, {}, 0}};
  Options options = CrashOptions(fs);
  options.journal = journal;
  options.journalFileBytes = 4096;
  auto opened = Engine::open(options);
  if (!opened.ok()) return h;
  std::unique_ptr<Engine> engine = std::move(opened).value();
  std::vector<std::vector<Seen>> seen(1);
  {
    Producer p(*engine);
    std::vector<Run> runs;
    for (std::size_t i = 0; i < h.size(); ++i) {
      auto r = engine->open_run(CrashMeta(h[i].task, h[i].run));
      if (!r.ok()) break;
      h[i].opened = true;
      runs.push_back(r.value());
    }
    auto step = [&](std::size_t run, int kind, const std::string& tag) {
      Seen s;
      s.run = run;
      auto t = PushOne(p, runs[run], kind, tag, &s);
      if (!t.ok()) return false;
      s.seq = t->seq();
      s.acked = TimedWait(t.value(), &s);
      const bool acked = s.acked;
      seen[0].push_back(std::move(s));
      return acked;
    };
    bool go = runs.size() == h.size();
    for (int i = 0; go && i < 6; ++i) go = step(static_cast<std::size_t>(i % 2), i % 3, "s" + std::to_string(i));
    if (go) go = runs[0].patch_state(RunStatePatch{}).ok();
    if (go) {  // the slot's lifecycle record takes the next seq of run b
      Seen s;
      s.run = 1;
      s.seq = runs[1].appended_seq() + 1;
      s.fragment = "\"type\":\"checkpoint_slot_reserved\"";
      s.channel = "worker";
      s.acked = runs[1].reserve_checkpoint().ok();
      go = s.acked;
      seen[0].push_back(std::move(s));
    }
    for (int i = 6; go && i < 12; ++i) go = step(static_cast<std::size_t>(i % 2), i % 3, "s" + std::to_string(i));
    if (go) go = runs[0].close().ok();
    for (int i = 12; go && i < 16; ++i) go = step(1, i % 3, "s" + std::to_string(i));
  }
  (void)engine->close_all();
  engine.reset();
  return Merge(std::move(h), seen);
}

std::string RecoverAndCheck(const std::shared_ptr<CrashFs>& fs, const History& history, bool twice) {
  auto opened = Engine::open(CrashOptions(fs));
  if (!opened.ok()) return "Engine::open after the crash: " + opened.status().to_string();
  std::unique_ptr<Engine> engine = std::move(opened).value();
  std::vector<std::pair<const RunHistory*, Run>> runs;
  for (const RunHistory& r : history) {
    if (!r.opened) continue;
    auto run = engine->open_run(CrashMeta(r.task, r.run));
    if (!run.ok()) return "recovery of " + r.task + "/" + r.run + ": " + run.status().to_string();
    const std::uint64_t n = run->appended_seq();
    if (run->durable_seq() != n)
      return r.task + "/" + r.run + ": recovered with durable " + std::to_string(run->durable_seq()) + " != " +
             std::to_string(n);
    if (std::string e = CheckRunFiles(*fs, r, n); !e.empty()) return e;
    runs.emplace_back(&r, run.value());
  }
  if (twice) {
    std::shared_ptr<CrashFs> copy = fs->Copy();
    auto again = Engine::open(CrashOptions(copy));
    if (!again.ok()) return "second recovery: " + again.status().to_string();
    for (const auto& [r, run] : runs) {
      auto run2 = again.value()->open_run(CrashMeta(r->task, r->run));
      if (!run2.ok()) return "second recovery of " + r->task + "/" + r->run + ": " + run2.status().to_string();
      if (run2->appended_seq() != run.appended_seq() || !run2->repairs().empty())
        return r->task + "/" + r->run + ": recovering twice changed it (seq " + std::to_string(run.appended_seq()) +
               " then " + std::to_string(run2->appended_seq()) + ")";
      for (const char* file : kChannelFiles)
        if (ReadNow(*fs, *r, file) != ReadNow(*copy, *r, file))
          return r->task + "/" + r->run + "/" + file + ": recovering twice changed its bytes";
    }
  }
  Producer p(*engine);
  for (const auto& [r, run] : runs) {
    const std::uint64_t n = run.appended_seq();
    auto t = p.push_stdout(run, "after the crash\n");
    if (!t.ok()) return r->task + "/" + r->run + ": push after recovery: " + t.status().to_string();
    auto seq = t->wait();
    if (!seq.ok()) return r->task + "/" + r->run + ": append after recovery: " + seq.status().to_string();
    if (seq.value() != n + 1)
      return r->task + "/" + r->run + ": the next append got seq " + std::to_string(seq.value()) + ", not " +
             std::to_string(n + 1);
  }
  if (Status st = engine->close_all(); !st.ok()) return "close after recovery: " + st.to_string();
  return "";
}

std::string ReplayCommand(std::uint64_t seed) {
  char exe[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string filter = info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "*";
  return "RUNLOG_CRASH_SEED=" + std::to_string(seed) + " " + (n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : "runlog_tests") +
         " --gtest_filter='" + filter + "'";
}

}  // namespace runlog::testing
