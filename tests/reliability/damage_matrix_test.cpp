// tests/reliability/damage_matrix_test.cpp — the damage matrix: SPEC
// "Recovery" and "Logs written by other implementations of the contract",
// checked across every entry point on the same damaged bytes.
//
// Subjects: runs the engine wrote (closed, and left running by a process that
// died without closing, with the watermark behind the log as a lost unsynced
// durable.seq write leaves it), runs written as a TypeScript implementation of
// local-run.ts writes them (context in every line, no crc, keys in any order,
// eventId "evt-N", no durable.seq), and conversations.
// Damage: one flipped bit, a deleted line, a file truncated mid-line, garbage
// appended (or inserted after a middle line), a zeroed range; in each channel,
// in its last record or a middle one, below or above the floor W.
// Entry points, each on a fresh copy of the damaged folder: open for writing
// (Engine::open_run / open_conversation and one append; `runlog exec`;
// `runlog chat append` / `chat reconcile`), `runlog verify`, `verify --repair`,
// `replay`, `summary`, `ls`, and `replay --follow`.
//
// The expected verdict is computed from the SPEC's rule alone (an oracle
// with its own line check and its own CRC32C), never from the code under test:
//   W = max(durable.seq, state.json lastEventSeq);
//   damage with a valid record after it in its file, a seq that repeats or goes
//   backwards, or any of 1..W missing = corruption: exit 1, nothing changed;
//   else N = the largest n >= W with 1..n all present; a damaged tail or a
//   record past N = torn tail (cut back to N), otherwise clean.
// Per case: one verdict and one last good seq N from every entry point; nothing
// at or below W cut or rewritten, durable.seq and lastEventSeq never lowered, a
// final status never undone; an append after open gets N+1 (> W: no
// acknowledged seq reused); readers change no byte.
//
// Size: every subject x kind x position, with the channel drawn by the seed
// (under the sanitizers the position too); RUNLOG_DAMAGE_ROUNDS rounds
// (default 1; 6 with RUNLOG_LONG=1, which also takes every channel each round).
// Seed: RUNLOG_CRASH_SEED. Violations are printed as one table and counted by
// entry point.
//
// It runs only with RUNLOG_DAMAGE_MATRIX=1 until recovery makes one decision
// for every entry point; kDamageMatrixOnByDefault (damage_matrix.h) turns it
// on for good. The oracle, subjects and damage: damage_matrix.h.
#include "reliability/damage_matrix.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "runlog/conversation.h"
#include "runlog/engine.h"
#include "support/crash_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

using namespace damage;  // NOLINT(google-build-using-namespace): the verbs of this test
namespace fs = std::filesystem;

struct Got {
  Verdict verdict = Verdict::none;
  std::optional<std::uint64_t> n;  // the last good seq it names
  std::string note;                // what else went wrong
};

// A reader's answer: exit 1 = corruption; exit 0 with seqs 1..n = n.
Got ReaderGot(const ProcessResult& r, const std::vector<std::uint64_t>& seqs, bool timed_out_ok) {
  Got g;
  if (r.exit_code == 1) {
    g.verdict = Verdict::corrupt;
    return g;
  }
  if (!(r.exit_code == 0 || (timed_out_ok && r.timed_out))) {
    g.note = r.describe();
    return g;
  }
  g.verdict = Verdict::clean;  // a reader cannot tell clean from torn: it serves 1..N either way
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != i + 1) {
      g.note = "serves seq " + std::to_string(seqs[i]) + " at place " + std::to_string(i + 1);
      break;
    }
  }
  g.n = seqs.size();
  return g;
}

Verdict VerifyVerdict(const ProcessResult& r) {
  if (r.exit_code == 0) return Verdict::clean;
  if (r.exit_code != 1) return Verdict::none;
  // docs/verify.md's wording: a torn tail says "torn tail", records past a
  // hole above W say they were "never acknowledged"; any other problem line
  // makes it corruption.
  std::size_t pos = 0;
  bool any = false;
  while (pos < r.out.size()) {
    std::size_t nl = r.out.find('\n', pos);
    if (nl == std::string::npos) nl = r.out.size();
    const std::string line = r.out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    any = true;
    const bool repairable =
        line.find("torn tail") != std::string::npos || line.find("never acknowledged") != std::string::npos;
    if (!repairable) return Verdict::corrupt;
  }
  return any ? Verdict::torn : Verdict::corrupt;
}

// What a writer or --repair may leave: nothing below W touched, watermarks and
// a final status never undone. "" when so.
std::string FloorKept(const Stream& before, const Expect& e, const std::string& dir) {
  const Stream after = LoadStream(dir, before.conversation);
  std::string why;
  for (const auto& f : before.files) {
    const std::string& fl = e.floor.at(f);
    if (after.content.at(f).compare(0, fl.size(), fl) != 0) why += f + ": bytes at or below W changed; ";
  }
  if (before.durable && (!after.durable || *after.durable < *before.durable))
    why += "durable.seq lowered to " + (after.durable ? std::to_string(*after.durable) : "nothing") + "; ";
  if (before.last_event && (!after.last_event || *after.last_event < *before.last_event))
    why += "lastEventSeq lowered; ";
  if (Terminal(before.status) && after.status != before.status)
    why += "status " + before.status + " -> " + after.status + "; ";
  return why;
}

// After a cut to N (and, when `appended` is not 0, one record of that seq
// written since): each file is its lines 1..N as they were, plus that record.
std::string CutTo(const Stream& before, const Expect& e, const std::string& dir, std::uint64_t appended) {
  const Stream after = LoadStream(dir, before.conversation);
  std::string why;
  for (const auto& f : before.files) {
    const std::string& k = e.keep.at(f);
    const std::string& c = after.content.at(f);
    if (c.compare(0, k.size(), k) != 0) {
      why += f + ": records 1..N changed; ";
      continue;
    }
    const std::vector<Line> rest = OracleLines(c.substr(k.size()), before.conversation ? "chunks" : ChannelOf(f));
    for (const Line& l : rest)
      if (!(l.valid && appended && l.seq == appended)) why += f + ": holds more than 1..N (cut not done); ";
  }
  return why;
}

struct Case {
  std::string subject, kind, place;
  Kind skind = Kind::run;
  std::string dir;  // the damaged stream folder (template; never run on)
  std::string root;
};

struct Violation {
  std::string subject, kind, place, entry, expected, got;
};

class Matrix {
 public:
  explicit Matrix(std::string scratch) : scratch_(std::move(scratch)) {}

  void Run(const Case& c) {
    const Stream st = LoadStream(c.dir, c.skind == Kind::conversation);
    const Expect e = Oracle(st);
    ++inputs_;
    const std::string expect_s =
        std::string(VerdictName(e.verdict)) + (e.verdict == Verdict::corrupt ? "" : " N=" + std::to_string(e.N));
    auto t0 = std::chrono::steady_clock::now();
    auto record = [&](const std::string& entry, const Got& g, const std::string& extra) {
      const auto now = std::chrono::steady_clock::now();
      ms_per_entry_[entry] += std::chrono::duration<double, std::milli>(now - t0).count();
      t0 = now;
      ++cases_;
      ++per_entry_[entry];
      std::string got = std::string(VerdictName(g.verdict)) + (g.n ? " N=" + std::to_string(*g.n) : "");
      bool bad = !extra.empty() || !g.note.empty();
      if (g.verdict != Verdict::none) {
        // Only verify and --repair tell a torn tail from a clean stream; the
        // others accept both and must then name N.
        const bool two_way = entry != "verify" && entry != "verify --repair" && entry != "exec";
        const Verdict want = two_way && e.verdict == Verdict::torn ? Verdict::clean : e.verdict;
        if (g.verdict != want) bad = true;
        // follow of a run left unfinished may also stop at W (what a durable
        // watermark vouches for) instead of N.
        const bool n_ok = !g.n || *g.n == e.N || (entry == "follow" && !Terminal(st.status) && *g.n == e.W);
        if (g.verdict != Verdict::corrupt && want != Verdict::corrupt && !n_ok) bad = true;
      } else {
        bad = true;
      }
      if (!bad) return;
      if (!g.note.empty()) got += " (" + g.note + ")";
      if (!extra.empty()) got += " [" + extra + "]";
      violations_.push_back({c.subject, c.kind, c.place, entry, expect_s + " (" + e.why + ")", got});
      ++bad_per_entry_[entry];
      bad_inputs_.insert(inputs_);
    };
    const bool conv = c.skind == Kind::conversation;
    // Each entry point on a fresh copy.
    auto fresh = [&]() {
      std::error_code ec;
      fs::remove_all(scratch_, ec);
      fs::create_directories(scratch_, ec);
      fs::copy(c.root, scratch_, fs::copy_options::recursive, ec);
      EXPECT_FALSE(ec) << ec.message();
      return conv ? scratch_ + "/convs/" + kConv : scratch_ + "/runs/" + kTask + "/" + kRun;
    };
    const Snapshot orig = Snap(c.dir);
    auto unchanged = [&](const std::string& dir) {
      const std::string d = DiffSnap(orig, Snap(dir));
      return d.empty() ? std::string() : "changed: " + d;
    };
    auto writer_check = [&](const std::string& dir, bool refused, std::uint64_t appended) -> std::string {
      if (e.verdict == Verdict::corrupt) return refused ? unchanged(dir) : "";
      std::string why = FloorKept(st, e, dir);
      if (!refused) why += CutTo(st, e, dir, appended);
      return why;
    };

    // 0. follow, on a copy of its own, beside the others: a run left
    // unfinished keeps it waiting until its timeout.
    std::future<ProcessResult> follow;
    std::string follow_dir;
    if (!conv) {
      std::error_code ec;
      const std::string froot = scratch_ + "-follow";
      fs::remove_all(froot, ec);
      fs::create_directories(froot, ec);
      fs::copy(c.root, froot, fs::copy_options::recursive, ec);
      EXPECT_FALSE(ec) << ec.message();
      follow_dir = froot + "/runs/" + kTask + "/" + kRun;
      follow = std::async(std::launch::async, [dir = follow_dir] {
        return RunProcess({RUNLOG_CLI_PATH, "replay", "--follow", dir},
                          std::chrono::milliseconds(UnderSanitizer() ? 3000 : 1000));
      });
    }
    // 1. Open for writing through the engine, one append.
    {
      const std::string dir = fresh();
      Got g;
      std::uint64_t seq = 0;
      {
        auto eng = Engine::open(MatrixOptions(scratch_));
        if (!eng.ok()) {
          g.note = "engine: " + eng.status().to_string();
        } else {
          Producer p(*eng.value());
          if (conv) {
            auto cv = eng.value()->open_conversation(kConv);
            if (!cv.ok()) {
              g.verdict = Verdict::corrupt;
            } else {
              auto t = p.push_chunk(cv.value(), Role::user, R"({"type":"text","text":"appended"})");
              auto s = t.ok() ? t->wait() : Result<std::uint64_t>(t.status());
              if (s.ok()) seq = s.value();
              (void)cv.value().close();
            }
          } else {
            auto r = eng.value()->open_run(MatrixMeta());
            if (!r.ok()) {
              g.verdict = Verdict::corrupt;
            } else {
              auto t = p.push_stdout(r.value(), "appended\n");
              auto s = t.ok() ? t->wait() : Result<std::uint64_t>(t.status());
              if (s.ok()) seq = s.value();
              (void)r.value().close();
            }
          }
        }
      }
      if (g.verdict == Verdict::none && seq) {
        g.verdict = Verdict::clean;  // accepted: what it kept is checked below
        g.n = seq - 1;
        if (seq <= e.W) g.note = "seq " + std::to_string(seq) + " reused (W=" + std::to_string(e.W) + ")";
      } else if (g.verdict == Verdict::none) {
        g.note += " append failed";
      }
      record("open(api)", g, writer_check(dir, g.verdict == Verdict::corrupt, seq));
    }
    const std::string R = RUNLOG_CLI_PATH;
    if (conv) {
      // 2. chat append, one chunk.
      {
        const std::string dir = fresh();
        const ProcessResult r =
            RunProcess({"/bin/sh", "-c",
                        "printf '%s\\n' '{\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"appended\"}}' | '" +
                            R + "' chat append --conversations-root '" + scratch_ + "/convs' --id " + kConv},
                       std::chrono::seconds(60));
        Got g;
        std::uint64_t seq = 0;
        if (r.exit_code == 1) {
          g.verdict = Verdict::corrupt;
        } else if (r.exit_code == 0) {
          seq = FirstUint(r.out, "lastSeq").value_or(0);
          g.verdict = Verdict::clean;
          g.n = seq ? seq - 1 : 0;
          if (seq && seq <= e.W) g.note = "seq " + std::to_string(seq) + " reused";
        } else {
          g.note = r.describe();
        }
        record("chat append", g, writer_check(dir, g.verdict == Verdict::corrupt, seq));
      }
      // 3. chat reconcile.
      {
        const std::string dir = fresh();
        const ProcessResult r =
            RunCli({"chat", "reconcile", "--conversations-root", scratch_ + "/convs", "--id", kConv});
        Got g;
        if (r.exit_code == 1) {
          g.verdict = Verdict::corrupt;
        } else if (r.exit_code == 0) {
          g.verdict = Verdict::clean;
          g.n = FirstUint(r.out, "lastSeq");
        } else {
          g.note = r.describe();
        }
        record("chat reconcile", g, writer_check(dir, g.verdict == Verdict::corrupt, 0));
      }
    } else {
      // 2. exec on a run that holds records: always refused before anything is
      // opened, so nothing changes: corruption exits 1 (SPEC "Recovery"), a
      // run holding records exits 2 (README's exit-status table: bad usage).
      const std::string dir = fresh();
      const ProcessResult r = RunCli(
          {"exec", "--runs-root", scratch_ + "/runs", "--task", kTask, "--run", kRun, "--quiet", "--", "/bin/true"});
      Got g;
      const std::string extra = unchanged(dir);
      if (r.exit_code == 1) {
        g.verdict = Verdict::corrupt;
      } else if (r.exit_code == 2 && e.verdict != Verdict::corrupt) {
        g.verdict = e.verdict;  // refused: no verdict of its own beyond "it holds records"
      } else {
        g.note = "exec " + r.describe() + " on a run holding records";
      }
      record("exec", g, extra);
    }
    // 4. verify.
    {
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"verify", "--quiet", dir});
      Got g;
      g.verdict = VerifyVerdict(r);
      if (g.verdict == Verdict::none) g.note = r.describe();
      record("verify", g, unchanged(dir));
    }
    // 5. verify --repair.
    {
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"verify", "--repair", "--quiet", dir});
      Got g;
      std::string extra;
      const std::string u = unchanged(dir);
      if (r.exit_code == 1) {
        g.verdict = Verdict::corrupt;
        extra = u;
      } else if (r.exit_code == 0) {
        g.verdict = u.empty() ? Verdict::clean : Verdict::torn;
        if (e.verdict == Verdict::corrupt)
          extra = u;
        else
          extra = FloorKept(st, e, dir) + CutTo(st, e, dir, 0);
        if (g.verdict == Verdict::torn) g.n = LoadStreamMax(dir, conv);
      } else {
        g.note = r.describe();
      }
      record("verify --repair", g, extra);
    }
    // 6. replay, 7. summary, 8. ls, 9. follow: readers change nothing.
    {
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"replay", dir});
      record("replay", ReaderGot(r, SeqsOfJsonLines(r.out), false), unchanged(dir));
    }
    {
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"summary", dir});
      Got g = ReaderGot(r, {}, false);
      if (g.verdict == Verdict::clean) g.n = FirstUint(r.out, "lastSeq");
      if (g.verdict == Verdict::clean && !g.n) g.note = "no lastSeq";
      record("summary", g, unchanged(dir));
    }
    {
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"ls", "--json", scratch_ + (conv ? "/convs" : "/runs")});
      Got g = ReaderGot(r, {}, false);
      if (g.verdict == Verdict::clean) g.n = FirstUint(r.out, "entries");
      if (g.verdict == Verdict::clean && !g.n) g.note = "no entries";
      record("ls", g, unchanged(dir));
    }
    if (follow.valid()) {
      const ProcessResult r = follow.get();
      t0 = std::chrono::steady_clock::now();
      // Nothing at all before the timeout says nothing (a slow machine):
      // counted apart, not as a verdict.
      if (r.timed_out && r.out.empty() && r.err.empty()) {
        ++inconclusive_;
      } else {
        record("follow", ReaderGot(r, SeqsOfJsonLines(r.out), true), unchanged(follow_dir));
      }
    }
  }

  static std::uint64_t LoadStreamMax(const std::string& dir, bool conv) {
    const Stream s = LoadStream(dir, conv);
    std::uint64_t m = 0;
    for (const auto& f : s.files)
      for (const Line& l : OracleLines(s.content.at(f), conv ? "chunks" : ChannelOf(f)))
        if (l.valid) m = std::max(m, l.seq);
    return m;
  }

  std::string Report() const {
    std::string s;
    s += "damage matrix: " + std::to_string(inputs_) + " input folders (the undamaged subjects included; " +
         std::to_string(bad_inputs_.size()) + " with a violation), " + std::to_string(cases_) +
         " cases (input x entry point), " + std::to_string(violations_.size()) + " violations" +
         (inconclusive_ ? ", " + std::to_string(inconclusive_) + " follows silent until their timeout (not counted)"
                        : "") +
         "\n";
    s += "violations by entry point:";
    for (const auto& [k, n] : per_entry_) {
      auto it = bad_per_entry_.find(k);
      s += " " + k + "=" + std::to_string(it == bad_per_entry_.end() ? 0 : it->second) + "/" + std::to_string(n);
    }
    s += "\nseconds by entry point:";
    for (const auto& [k, ms] : ms_per_entry_) s += " " + k + "=" + std::to_string(static_cast<int>(ms / 1000 + 0.5));
    s += "\n";
    if (!violations_.empty()) {
      char buf[1024];
      std::snprintf(buf, sizeof buf, "%-16s %-9s %-22s %-16s %-44s %s\n", "subject", "kind", "place", "entry",
                    "expected", "got");
      s += buf;
      for (const Violation& v : violations_) {
        std::snprintf(buf, sizeof buf, "%-16s %-9s %-22s %-16s %-44s %s\n", v.subject.c_str(), v.kind.c_str(),
                      v.place.c_str(), v.entry.c_str(), v.expected.substr(0, 44).c_str(), v.got.substr(0, 400).c_str());
        s += buf;
      }
    }
    return s;
  }
  std::size_t violations() const { return violations_.size(); }
  std::size_t cases() const { return cases_; }

 private:
  std::string scratch_;
  std::size_t inputs_ = 0, cases_ = 0, inconclusive_ = 0;
  std::set<std::size_t> bad_inputs_;
  std::vector<Violation> violations_;
  std::map<std::string, std::size_t> per_entry_, bad_per_entry_;
  std::map<std::string, double> ms_per_entry_;
};

struct SubjectSpec {
  std::string name;
  Kind kind;
  bool closed;
  std::uint64_t lowered_floor;  // running ones: durable.seq (and a foreign lastEventSeq) put back to this
};

// Builds the undamaged subject folder `root`; "" or why not.
std::string BuildSubject(const SubjectSpec& s, const std::string& root, std::mt19937_64& rng) {
  std::error_code ec;
  fs::create_directories(root + "/runs", ec);
  fs::create_directories(root + "/convs", ec);
  const Subject subj{s.name, s.kind, root};
  if (s.kind == Kind::foreign) {
    if (!WriteForeignRun(root, s.closed, s.lowered_floor, rng)) return "cannot write the foreign run";
    return "";
  }
  const bool conv = s.kind == Kind::conversation;
  if (s.closed) {
    const int rc = conv ? WriteConversation(root, true) : WriteEngineRun(root, true);
    if (rc) return "writer failed: " + std::to_string(rc);
  } else {
    // A writer that dies without closing: a child process.
    const ProcessResult r = RunInChild(
        [&] { return conv ? WriteConversation(root, false) : WriteEngineRun(root, false); }, std::chrono::seconds(60));
    if (r.exit_code != 0) return "writer child: " + r.describe();
    // The last durable.seq write never reached the disk.
    if (!WriteDurable(subj.dir(), s.lowered_floor)) return "cannot lower durable.seq";
    const Stream st = LoadStream(subj.dir(), conv);
    if (st.last_event && *st.last_event > s.lowered_floor) return "state.json is ahead of the lowered floor";
  }
  return "";
}

TEST(DamageMatrixTest, EveryEntryPointGivesTheSpecVerdict) {
  RUNLOG_REQUIRE_DAMAGE_MATRIX();
  const std::uint64_t seed = SeedFromEnv(110011);
  const bool all_channels = SizeFromEnv("RUNLOG_DAMAGE_ALL_CHANNELS", 0, 1) != 0;
  const std::uint64_t rounds = SizeFromEnv("RUNLOG_DAMAGE_ROUNDS", 1, 6);
  std::mt19937_64 rng(seed);
  TempDir tmp("runlog-matrix");
  const std::vector<SubjectSpec> specs = {
      {"engine/closed", Kind::run, true, 0},        {"engine/running", Kind::run, false, 6},
      {"foreign/closed", Kind::foreign, true, 0},   {"foreign/running", Kind::foreign, false, 6},
      {"conv/closed", Kind::conversation, true, 0}, {"conv/running", Kind::conversation, false, 3},
  };
  Matrix m(tmp / "scratch");
  const auto start = std::chrono::steady_clock::now();
  int built = 0;
  for (const SubjectSpec& spec : specs) {
    const std::string base = tmp / ("subject-" + std::to_string(built++));
    const std::string err = BuildSubject(spec, base, rng);
    ASSERT_EQ(err, "") << spec.name;
    const Subject subj{spec.name, spec.kind, base};
    // The undamaged subject: every entry point must call it clean.
    m.Run({spec.name, "none", "-", spec.kind, subj.dir(), base});
    const bool conv = spec.kind == Kind::conversation;
    const std::vector<std::string> files =
        conv ? std::vector<std::string>{"chunks.jsonl"}
             : std::vector<std::string>{kChannelFiles[0], kChannelFiles[1], kChannelFiles[2]};
    const Stream clean = LoadStream(subj.dir(), conv);
    const std::uint64_t W = Oracle(clean).W;
    for (std::uint64_t round = 0; round < rounds; ++round) {
      for (Damage d : kDamages) {
        // Under the sanitizers one position (last or middle), drawn, per kind.
        const bool draw = UnderSanitizer() && !all_channels;
        const bool drawn_last = rng() % 2 == 0;
        for (bool last : {true, false}) {
          if (draw && last != drawn_last) continue;
          std::vector<std::string> chosen = files;
          if (!all_channels && !conv) chosen = {files[rng() % files.size()]};
          for (const std::string& f : chosen) {
            const std::string& content = clean.content.at(f);
            const std::size_t n = CountLines(content);
            if (n < 2) continue;
            const std::size_t li = last ? n - 1 : rng() % (n - 1);
            const std::uint64_t seq = SeqOfLine(content, li, conv ? "chunks" : ChannelOf(f));
            const std::string place = ChannelOf(f) + (last ? "/last" : "/mid") + (seq <= W ? "/<=W" : "/>W") + "(s" +
                                      std::to_string(seq) + ")";
            const std::string croot = tmp / "case";
            std::error_code ec;
            fs::remove_all(croot, ec);
            fs::copy(base, croot, fs::copy_options::recursive, ec);
            ASSERT_FALSE(ec) << ec.message();
            const Subject cs{spec.name, spec.kind, croot};
            std::string damaged = content;
            ApplyDamage(d, damaged, li, last, spec.kind == Kind::foreign, rng);
            ASSERT_TRUE(WriteFile(cs.dir() + "/" + f, damaged));
            m.Run({spec.name, DamageName(d), place, spec.kind, cs.dir(), croot});
          }
        }
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s(seed %llu, %.1f s%s)\n", m.Report().c_str(), static_cast<unsigned long long>(seed), secs,
              UnderSanitizer() ? ", sanitizer build" : "");
  EXPECT_EQ(m.violations(), 0u) << "replay with RUNLOG_CRASH_SEED=" << seed;
}

}  // namespace
}  // namespace runlog::testing
