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
// The expected verdict is computed here from the SPEC's rule alone (an oracle
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
// After the matrix, DamageReproTest: one end-to-end CLI case per kind of
// damage found by hand (a flip or a truncate in the last stdout line of a
// closed run and --repair, a deleted line and exec, a conversation's deleted
// or flipped line and chat append, a run of another contract implementation
// through verify/ls/summary/exec/--repair, 1,100 runs under a 1,024
// descriptor limit, a stray chunks.jsonl in a run folder, symlinked folders).
//
// Both run only with RUNLOG_DAMAGE_MATRIX=1 until recovery makes one
// decision for every entry point; kDamageMatrixOnByDefault turns it on for good.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "reliability/damage_matrix.h"
#include "runlog/conversation.h"
#include "runlog/engine.h"
#include "support/crash_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// The oracle: SPEC "Recovery", written from the SPEC alone.

// CRC32C (Castagnoli, reflected 0x82F63B78), bit by bit: slow and obviously right.
std::uint32_t RefCrc32c(std::string_view s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

struct Line {
  std::size_t offset = 0;
  std::string bytes;  // without its '\n'
  bool complete = false;  // followed by '\n'
  bool valid = false;
  std::uint64_t seq = 0;
};

// Whether `body` (one line without '\n') is a record of `channel` ("chunks"
// for a conversation): one JSON object, seq >= 1, the fields of its contract
// type, and when it carries a crc, the CRC32C of the bytes before `,"crc":"`.
bool OracleLineValid(std::string_view body, std::string_view channel, std::uint64_t* seq) {
  if (body.empty() || body.find('\0') != std::string_view::npos) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return false;
  std::uint64_t s = 0;
  if (obj["seq"].get_uint64().get(s) != simdjson::SUCCESS || s == 0) return false;
  auto is_string = [&](const char* k) { return obj[k].is_string(); };
  if (channel == "chunks") {
    if (!is_string("role") || !obj["chunk"].is_object()) return false;
  } else {
    std::string_view ch;
    if (obj["channel"].get_string().get(ch) != simdjson::SUCCESS || ch != channel) return false;
    if (!is_string("createdAt")) return false;
    if (channel == "worker") {
      for (const char* k : {"eventId", "type", "level", "message", "renderedLine"})
        if (!is_string(k)) return false;
      if (!obj["data"].is_object()) return false;
    } else if (!is_string("text")) {
      return false;
    }
  }
  std::string_view crc;
  if (obj["crc"].get_string().get(crc) == simdjson::SUCCESS) {
    const std::size_t at = body.rfind(",\"crc\":\"");
    if (at == std::string_view::npos || crc.size() != 8) return false;
    char want[9];
    std::snprintf(want, sizeof want, "%08x", RefCrc32c(body.substr(0, at)));
    if (crc != std::string_view(want, 8)) return false;
  } else if (!obj["crc"].error()) {
    return false;  // crc present but not a string
  }
  *seq = s;
  return true;
}

std::vector<Line> OracleLines(const std::string& content, std::string_view channel) {
  std::vector<Line> out;
  std::size_t pos = 0;
  while (pos < content.size()) {
    Line l;
    l.offset = pos;
    const std::size_t nl = content.find('\n', pos);
    l.complete = nl != std::string::npos;
    const std::size_t end = l.complete ? nl : content.size();
    l.bytes = content.substr(pos, end - pos);
    l.valid = l.complete && OracleLineValid(l.bytes, channel, &l.seq);
    out.push_back(std::move(l));
    pos = l.complete ? end + 1 : end;
    if (!out.back().complete) break;
  }
  return out;
}

enum class Verdict { clean, torn, corrupt, none };
const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::clean: return "clean";
    case Verdict::torn: return "torn";
    case Verdict::corrupt: return "corrupt";
    case Verdict::none: return "-";
  }
  return "?";
}

// One stream folder, as the oracle sees it.
struct Stream {
  bool conversation = false;
  std::vector<std::string> files;  // channel file names
  std::map<std::string, std::string> content;
  std::optional<std::uint64_t> durable;      // durable.seq
  std::optional<std::uint64_t> last_event;   // state.json lastEventSeq
  std::string status;                        // state.json status
};

std::string ChannelOf(const std::string& file) { return file.substr(0, file.find('.')); }

std::optional<std::uint64_t> ParseDurable(const std::string& dir) {
  auto s = ReadFile(dir + "/durable.seq");
  if (!s || s->size() != 21 || s->back() != '\n') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    if ((*s)[i] < '0' || (*s)[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>((*s)[i] - '0');
  }
  return v;
}

Stream LoadStream(const std::string& dir, bool conversation) {
  Stream st;
  st.conversation = conversation;
  if (conversation) {
    st.files = {"chunks.jsonl"};
  } else {
    st.files = {kChannelFiles[0], kChannelFiles[1], kChannelFiles[2]};
  }
  for (const auto& f : st.files) st.content[f] = ReadFile(dir + "/" + f).value_or("");
  st.durable = ParseDurable(dir);
  if (!conversation) {
    if (auto js = ReadFile(dir + "/state.json")) {
      simdjson::dom::parser p;
      simdjson::dom::element e;
      if (p.parse(*js).get(e) == simdjson::SUCCESS) {
        std::uint64_t v = 0;
        if (e["lastEventSeq"].get_uint64().get(v) == simdjson::SUCCESS) st.last_event = v;
        std::string_view s;
        if (e["status"].get_string().get(s) == simdjson::SUCCESS) st.status = std::string(s);
      }
    }
  }
  return st;
}

struct Expect {
  Verdict verdict = Verdict::clean;
  std::uint64_t W = 0, N = 0;
  std::uint64_t max_seq = 0;                  // highest valid seq present
  std::map<std::string, std::string> floor;   // per file: the bytes of its lines with seq <= W
  std::map<std::string, std::string> keep;    // per file: the bytes of its lines with seq <= N
  std::string why;
};

Expect Oracle(const Stream& st) {
  Expect e;
  e.W = std::max(st.durable.value_or(0), st.last_event.value_or(0));
  std::set<std::uint64_t> present;
  bool damaged_tail = false;
  for (const auto& f : st.files) {
    const std::vector<Line> lines = OracleLines(st.content.at(f), st.conversation ? "chunks" : ChannelOf(f));
    bool damage_seen = false;
    std::uint64_t last = 0;
    for (const Line& l : lines) {
      if (!l.valid) {
        damage_seen = true;
        continue;
      }
      if (damage_seen && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": damage with a valid record after it";
      }
      if (l.seq <= last && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": seq repeats or goes backwards";
      }
      last = std::max(last, l.seq);
      if (!present.insert(l.seq).second && e.verdict != Verdict::corrupt) {
        e.verdict = Verdict::corrupt;
        e.why = f + ": seq in two files";
      }
    }
    if (damage_seen) damaged_tail = true;
  }
  for (std::uint64_t s = 1; s <= e.W && e.verdict != Verdict::corrupt; ++s) {
    if (!present.count(s)) {
      e.verdict = Verdict::corrupt;
      e.why = "seq " + std::to_string(s) + " <= W=" + std::to_string(e.W) + " missing";
    }
  }
  e.max_seq = present.empty() ? 0 : *present.rbegin();
  if (e.verdict == Verdict::corrupt) return e;
  e.N = e.W;
  while (present.count(e.N + 1)) ++e.N;
  if (damaged_tail || e.N < e.max_seq) {
    e.verdict = Verdict::torn;
    e.why = damaged_tail ? "damaged tail above W" : "records past a hole above W";
  }
  for (const auto& f : st.files) {
    const std::string& c = st.content.at(f);
    std::size_t floor_end = 0, keep_end = 0;
    for (const Line& l : OracleLines(c, st.conversation ? "chunks" : ChannelOf(f))) {
      if (!l.valid) break;
      if (l.seq <= e.W) floor_end = l.offset + l.bytes.size() + 1;
      if (l.seq <= e.N) keep_end = l.offset + l.bytes.size() + 1;
    }
    e.floor[f] = c.substr(0, floor_end);
    e.keep[f] = c.substr(0, keep_end);
  }
  return e;
}

// ---------------------------------------------------------------------------
// Subjects.

constexpr const char* kTask = "mtask";
constexpr const char* kRun = "mrun";
constexpr const char* kConv = "mconv";

enum class Kind { run, foreign, conversation };

struct Subject {
  std::string name;  // "engine/closed", ...
  Kind kind = Kind::run;
  std::string root;  // a case folder holding runs/ and convs/
  std::string dir() const {
    return kind == Kind::conversation ? root + "/convs/" + kConv : root + "/runs/" + kTask + "/" + kRun;
  }
};

RunMetadata MatrixMeta() {
  RunMetadata m;
  m.taskId = kTask;
  m.runId = kRun;
  m.stepId = "step-1";
  m.stepName = "matrix";
  m.workerKind = "test";
  m.checkpointMode = "none";
  m.repoRoot = "/repo";
  return m;
}

Options MatrixOptions(const std::string& root) {
  Options o;
  o.runsRoot = root + "/runs";
  o.conversationsRoot = root + "/convs";
  o.durability = Durability::batch;
  o.syncThreads = 1;
  return o;
}

// What each seq of a run is: 'W' worker, 'O' stdout, 'E' stderr. A closed run
// ends with worker_exited and step_completed; a running one has 11 records.
constexpr std::string_view kRunShape = "WOEOWOEOEO";

// Writes a run with the engine, one record at a time, each waited for.
// `close`: the run is closed (state final); else the process leaves it as a
// crash does (call only in a child that then _exit()s).
int WriteEngineRun(const std::string& root, bool close) {
  auto eng = Engine::open(MatrixOptions(root));
  if (!eng.ok()) return 10;
  auto run = eng.value()->open_run(MatrixMeta());
  if (!run.ok()) return 11;
  Producer p(*eng.value());
  int n = 0;
  auto wait = [](Result<Ticket> t) { return t.ok() && t->wait().ok(); };
  for (char c : kRunShape) {
    ++n;
    const std::string text = "line " + std::to_string(n) + " \xe2\x9c\x93 \"q\"\n";
    bool ok = false;
    if (c == 'W') {
      LifecycleEvent ev{n == 1 ? EventType::worker_started : EventType::step_prepared, LogLevel::info,
                        "event " + std::to_string(n), R"({"n":)" + std::to_string(n) + "}"};
      ok = wait(p.push_event(run.value(), ev));
    } else if (c == 'O') {
      ok = wait(p.push_stdout(run.value(), text));
    } else {
      ok = wait(p.push_stderr(run.value(), text));
    }
    if (!ok) return 12;
  }
  if (close) {
    if (!wait(p.push_event(run.value(), {EventType::worker_exited, LogLevel::info, "exited", R"({"exitCode":0})"})))
      return 13;
    if (!wait(p.push_event(run.value(), {EventType::step_completed, LogLevel::info, "done", ""}))) return 14;
    if (!run.value().close().ok()) return 15;
    return 0;
  }
  if (!wait(p.push_event(run.value(), {EventType::step_prepared, LogLevel::info, "event 11", ""}))) return 16;
  std::fflush(nullptr);
  ::_exit(0);  // no close: what a killed writer leaves
}

int WriteConversation(const std::string& root, bool close) {
  auto eng = Engine::open(MatrixOptions(root));
  if (!eng.ok()) return 20;
  auto conv = eng.value()->open_conversation(kConv);
  if (!conv.ok()) return 21;
  Producer p(*eng.value());
  for (int i = 1; i <= 6; ++i) {
    const Role role = i % 2 ? Role::user : Role::assistant;
    auto t = p.push_chunk(conv.value(), role, R"({"type":"text","text":"chunk )" + std::to_string(i) + R"( \"x\""})");
    if (!t.ok() || !t->wait().ok()) return 22;
  }
  if (close) return conv.value().close().ok() ? 0 : 23;
  ::_exit(0);
}

// A JSON object with its members in an order drawn by `rng`.
std::string ShuffledObject(std::vector<std::pair<std::string, std::string>> members, std::mt19937_64& rng) {
  std::shuffle(members.begin(), members.end(), rng);
  std::string s = "{";
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i) s += ",";
    s += "\"" + members[i].first + "\":" + members[i].second;
  }
  return s + "}";
}

std::string Q(const std::string& s) { return "\"" + s + "\""; }

// A run as a TypeScript implementation of local-run.ts writes it: meta.json
// and state.json by JSON.stringify, every line with its context, no crc,
// no durable.seq, eventIds "evt-N".
bool WriteForeignRun(const std::string& root, bool closed, std::uint64_t running_floor, std::mt19937_64& rng) {
  const std::string dir = root + "/runs/" + kTask + "/" + kRun;
  std::error_code ec;
  fs::create_directories(dir + "/artifacts", ec);
  fs::create_directories(dir + "/checkpoints", ec);
  const std::string t0 = "2026-11-21T10:17:00.";
  auto at = [&](int n) { return t0 + (n < 10 ? "00" : "0") + std::to_string(n) + "Z"; };
  std::string shape(kRunShape);
  shape += closed ? "WW" : "W";
  std::map<char, std::string> files;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const int n = static_cast<int>(i) + 1;
    std::vector<std::pair<std::string, std::string>> m = {
        {"taskId", Q(kTask)}, {"stepId", Q("step-1")}, {"runId", Q(kRun)}, {"seq", std::to_string(n)},
        {"createdAt", Q(at(n))}};
    if (shape[i] == 'W') {
      const char* type = n == 1 ? "worker_started"
                         : (closed && n == 11) ? "worker_exited"
                         : (closed && n == 12) ? "step_completed"
                                               : "step_prepared";
      const std::string msg = "event " + std::to_string(n);
      m.push_back({"channel", Q("worker")});
      m.push_back({"eventId", Q("evt-" + std::to_string(n))});
      m.push_back({"type", Q(type)});
      m.push_back({"level", Q("info")});
      m.push_back({"message", Q(msg)});
      m.push_back({"data", std::string(type) == std::string("worker_exited") ? R"({"exitCode":0})" : "{}"});
      m.push_back({"renderedLine", Q("[" + at(n) + "] info " + type + ": " + msg)});
    } else {
      m.push_back({"channel", Q(shape[i] == 'O' ? "stdout" : "stderr")});
      m.push_back({"text", Q("line " + std::to_string(n) + " \\u2713\\n")});
    }
    files[shape[i]] += ShuffledObject(m, rng) + "\n";
  }
  const std::uint64_t last_event = closed ? shape.size() : running_floor;
  std::string state = R"({"status":")" + std::string(closed ? "completed" : "running") +
                      R"(","attempt":1,"startedAt":")" + at(1) + R"(","updatedAt":")" + at(2) + "\"";
  if (closed) state += R"(,"finishedAt":")" + at(12) + "\"";
  state += R"(,"lastEventSeq":)" + std::to_string(last_event) + R"(,"checkpointSeq":0)";
  if (closed) state += R"(,"exitCode":0)";
  state += "}";
  return WriteFile(dir + "/meta.json",
                   R"({"layoutVersion":"local-run-v1","taskId":"mtask","stepId":"step-1","stepName":"matrix","runId":"mrun","workerKind":"ts","attempt":1,"repoRoot":"/repo","worktreePath":"/repo","createdAt":")" +
                       at(0) + R"(","checkpointMode":"none"})") &&
         WriteFile(dir + "/state.json", state) && WriteFile(dir + "/worker.jsonl", files['W']) &&
         WriteFile(dir + "/stdout.jsonl", files['O']) && WriteFile(dir + "/stderr.jsonl", files['E']);
}

bool WriteDurable(const std::string& dir, std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu\n", static_cast<unsigned long long>(v));
  return WriteFile(dir + "/durable.seq", buf);
}

// ---------------------------------------------------------------------------
// Damage.

enum class Damage { flip, del, truncate, garbage, zero };
constexpr std::array<Damage, 5> kDamages = {Damage::flip, Damage::del, Damage::truncate, Damage::garbage, Damage::zero};
const char* DamageName(Damage d) {
  switch (d) {
    case Damage::flip: return "flip";
    case Damage::del: return "delete";
    case Damage::truncate: return "truncate";
    case Damage::garbage: return "garbage";
    case Damage::zero: return "zero";
  }
  return "?";
}

// Damages line `li` of `c` (lines end in '\n'). Foreign lines have no crc, so
// their flips hit the opening '{' (any bit of it breaks the JSON); own lines
// take a flip anywhere before the '\n'.
void ApplyDamage(Damage d, std::string& c, std::size_t li, bool last, bool foreign, std::mt19937_64& rng) {
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // offset, length with '\n'
  for (std::size_t pos = 0; pos < c.size();) {
    const std::size_t nl = c.find('\n', pos);
    lines.push_back({pos, nl + 1 - pos});
    pos = nl + 1;
  }
  const auto [off, len] = lines.at(li);
  switch (d) {
    case Damage::flip: {
      const std::size_t at = foreign ? off : off + rng() % (len - 1);
      c[at] = static_cast<char>(c[at] ^ (1 << (rng() % 8)));
      break;
    }
    case Damage::del:
      c.erase(off, len);
      break;
    case Damage::truncate:
      c.resize(off + 1 + rng() % (len - 2));
      break;
    case Damage::garbage: {
      std::string g = "#garbage";
      const std::size_t n = 4 + rng() % 40;
      for (std::size_t i = 0; i < n; ++i) g += static_cast<char>('!' + rng() % 90);
      if (last) {
        if (rng() % 2) g += '\n';
        c += g;
      } else {
        c.insert(off + len, g + "\n");
      }
      break;
    }
    case Damage::zero: {
      const std::size_t start = off + rng() % len;
      const std::size_t n = 1 + rng() % std::min<std::size_t>(32, off + len - start);
      for (std::size_t i = 0; i < n; ++i) c[start + i] = '\0';
      break;
    }
  }
}

std::size_t CountLines(const std::string& c) { return static_cast<std::size_t>(std::count(c.begin(), c.end(), '\n')); }

std::uint64_t SeqOfLine(const std::string& c, std::size_t li, std::string_view channel) {
  const std::vector<Line> lines = OracleLines(c, channel);
  return li < lines.size() ? lines[li].seq : 0;
}

// ---------------------------------------------------------------------------
// Entry points.

struct Got {
  Verdict verdict = Verdict::none;
  std::optional<std::uint64_t> n;  // the last good seq it names
  std::string note;                // what else went wrong
};

std::vector<std::uint64_t> SeqsOfJsonLines(const std::string& out) {
  std::vector<std::uint64_t> seqs;
  simdjson::dom::parser p;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    simdjson::dom::element e;
    std::uint64_t s = 0;
    if (!line.empty() && p.parse(line).get(e) == simdjson::SUCCESS && e["seq"].get_uint64().get(s) == simdjson::SUCCESS)
      seqs.push_back(s);
  }
  return seqs;
}

std::optional<std::uint64_t> FirstUint(const std::string& out, const char* key) {
  simdjson::dom::parser p;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    simdjson::dom::element e;
    std::uint64_t v = 0;
    if (!line.empty() && p.parse(line).get(e) == simdjson::SUCCESS && e[key].get_uint64().get(v) == simdjson::SUCCESS)
      return v;
  }
  return std::nullopt;
}

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

using Snapshot = std::map<std::string, std::string>;

Snapshot Snap(const std::string& dir) {
  Snapshot s;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return s;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) s[fs::relative(it->path(), dir).string()] = ReadFile(it->path().string()).value_or("");
  }
  return s;
}

std::string DiffSnap(const Snapshot& a, const Snapshot& b) {
  std::string d;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) d += k + " removed; ";
    else if (it->second != v) d += k + " " + std::to_string(v.size()) + "->" + std::to_string(it->second.size()) + " bytes; ";
  }
  for (const auto& [k, v] : b)
    if (!a.count(k) && k.find("lock") == std::string::npos) d += k + " created; ";
  return d;
}

bool Terminal(const std::string& status) { return status == "completed" || status == "failed" || status == "blocked"; }

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
  if (Terminal(before.status) && after.status != before.status) why += "status " + before.status + " -> " + after.status + "; ";
  return why;
}

// After a cut to N (and possibly one append of N+1 to `appended_file`): each
// file is its kept prefix, plus that one line.
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
    const std::string expect_s = std::string(VerdictName(e.verdict)) +
                                 (e.verdict == Verdict::corrupt ? "" : " N=" + std::to_string(e.N));
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
                          std::chrono::milliseconds(UnderSanitizer() ? 1000 : 300));
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
        const ProcessResult r = RunProcess(
            {"/bin/sh", "-c",
             "printf '%s\\n' '{\"role\":\"user\",\"chunk\":{\"type\":\"text\",\"text\":\"appended\"}}' | '" + R +
                 "' chat append --conversations-root '" + scratch_ + "/convs' --id " + kConv},
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
        const ProcessResult r = RunCli({"chat", "reconcile", "--conversations-root", scratch_ + "/convs", "--id", kConv});
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
      // 2. exec on a run that holds records: always refused (exit 1); on
      // corruption nothing changes, otherwise nothing at or below W does.
      const std::string dir = fresh();
      const ProcessResult r = RunCli({"exec", "--runs-root", scratch_ + "/runs", "--task", kTask, "--run", kRun, "--quiet",
                                      "--", "/bin/true"});
      Got g;
      std::string extra;
      // Recovery before the refusal may cut a torn tail or bring lagging
      // watermarks of an engine-written run up to N; nothing else may change.
      const bool recoverable = e.verdict == Verdict::torn || (st.durable && *st.durable < e.N);
      if (r.exit_code == 1) {
        g.verdict = e.verdict;  // refused: no verdict of its own beyond "no"
        extra = recoverable ? FloorKept(st, e, dir) : unchanged(dir);
        if (recoverable) {
          const std::string u = unchanged(dir), cut = CutTo(st, e, dir, 0);
          if (!u.empty() && !cut.empty()) extra += "neither unchanged nor cut to N: " + u;
        }
      } else {
        g.note = "exec " + r.describe() + " on a run holding records";
        extra = unchanged(dir);
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
        if (e.verdict == Verdict::corrupt) extra = u;
        else extra = FloorKept(st, e, dir) + CutTo(st, e, dir, 0);
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
      record("follow", ReaderGot(r, SeqsOfJsonLines(r.out), true), unchanged(follow_dir));
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
    s += "damage matrix: " + std::to_string(inputs_) + " damaged inputs, " + std::to_string(cases_) +
         " cases (input x entry point), " + std::to_string(violations_.size()) + " violations\n";
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
  std::size_t inputs_ = 0, cases_ = 0;
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
    const ProcessResult r = RunInChild([&] { return conv ? WriteConversation(root, false) : WriteEngineRun(root, false); },
                                       std::chrono::seconds(60));
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
            const std::string place =
                ChannelOf(f) + (last ? "/last" : "/mid") + (seq <= W ? "/<=W" : "/>W") + "(s" + std::to_string(seq) + ")";
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

// ---------------------------------------------------------------------------
// The reproductions of the damage that the matrix generalises, end to end
// through the CLI: each one is what a user (or an attacker) can do by hand.

namespace repro {

class DamageReproTest : public ::testing::Test {
 protected:
  void SetUp() override { RUNLOG_REQUIRE_DAMAGE_MATRIX(); }
  std::string runs() const { return tmp_ / "runs"; }
  std::string run_dir() const { return tmp_ / "runs/t/r"; }
  std::string convs() const { return tmp_ / "convs"; }
  // A closed run: seqs 1 run_prepared, 2 worker_started, 3..5 output (stdout
  // 3 and 5, stderr 4), 6 worker_exited, 7 step_completed; durable.seq 7.
  void ExecClosedRun() {
    const ProcessResult r = RunCli({"exec", "--runs-root", runs(), "--task", "t", "--run", "r", "--quiet", "--", "/bin/sh",
                                    "-c", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c"});
    ASSERT_EQ(r.exit_code, 0) << r.describe() << r.err;
    ASSERT_EQ(ParseDurable(run_dir()), std::optional<std::uint64_t>(7));
  }
  // A conversation of `n` chunks through `runlog chat append`.
  void AppendChunks(int n) {
    std::string lines;
    for (int i = 1; i <= n; ++i)
      lines += R"({"role":")" + std::string(i % 2 ? "user" : "assistant") + R"(","chunk":{"type":"text","text":"c)" +
               std::to_string(i) + "\"}}\n";
    ASSERT_TRUE(WriteFile(tmp_ / "in.jsonl", lines));
    const ProcessResult r = ChatAppend(tmp_ / "in.jsonl");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(FirstUint(r.out, "lastSeq"), std::optional<std::uint64_t>(n));
  }
  ProcessResult ChatAppend(const std::string& input) const {
    return RunProcess({"/bin/sh", "-c",
                       "exec '" + std::string(RUNLOG_CLI_PATH) + "' chat append --conversations-root '" + convs() +
                           "' --id c < '" + input + "'"},
                      std::chrono::seconds(60));
  }
  static void FlipLastLine(const std::string& file) {
    std::string c = ReadFile(file).value();
    const std::size_t start = c.rfind('\n', c.size() - 2) + 1;
    c[start + 5] = static_cast<char>(c[start + 5] ^ 0x01);  // inside `"seq":`'s key
    ASSERT_TRUE(WriteFile(file, c));
  }
  static void DeleteLine(const std::string& file, std::size_t index) {
    std::string c = ReadFile(file).value();
    std::size_t start = 0;
    for (std::size_t i = 0; i < index; ++i) start = c.find('\n', start) + 1;
    c.erase(start, c.find('\n', start) + 1 - start);
    ASSERT_TRUE(WriteFile(file, c));
  }
  TempDir tmp_{"runlog-repro"};
};

TEST_F(DamageReproTest, RepairRefusesAFlippedBitInTheLastStdoutLineOfAClosedRun) {
  ExecClosedRun();
  FlipLastLine(run_dir() + "/stdout.jsonl");
  const Snapshot before = Snap(run_dir());
  const ProcessResult v = RunCli({"verify", run_dir()});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.out.find("torn tail"), std::string::npos) << "seq 5 <= durable.seq 7 is corruption:\n" << v.out;
  EXPECT_NE(v.out.find("stdout.jsonl:"), std::string::npos) << v.out;
  const ProcessResult r = RunCli({"verify", "--repair", run_dir()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
}

TEST_F(DamageReproTest, RepairRefusesATruncatedStdoutOfAClosedRun) {
  ExecClosedRun();
  const std::string f = run_dir() + "/stdout.jsonl";
  const std::string c = ReadFile(f).value();
  ASSERT_TRUE(WriteFile(f, c.substr(0, c.size() - 40)));  // truncate -s -40
  const Snapshot before = Snap(run_dir());
  const ProcessResult r = RunCli({"verify", "--repair", run_dir()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
}

TEST_F(DamageReproTest, ExecAfterALineIsDeletedIsRefusedWithNothingCut) {
  ExecClosedRun();
  DeleteLine(run_dir() + "/worker.jsonl", 1);  // sed -i 2d: seq 2 gone
  const Snapshot before = Snap(run_dir());
  const ProcessResult r =
      RunCli({"exec", "--runs-root", runs(), "--task", "t", "--run", "r", "--quiet", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(DiffSnap(before, Snap(run_dir())), "") << r.err;
  EXPECT_EQ(ParseDurable(run_dir()), std::optional<std::uint64_t>(7));
}

TEST_F(DamageReproTest, ChatAppendAfterLineTwoIsDeletedIsRefusedAndReusesNoSeq) {
  AppendChunks(5);
  const std::string dir = convs() + "/c";
  DeleteLine(dir + "/chunks.jsonl", 1);
  const Snapshot before = Snap(dir);
  ASSERT_TRUE(WriteFile(tmp_ / "one.jsonl", R"({"role":"user","chunk":{"type":"text","text":"new"}})" "\n"));
  const ProcessResult r = ChatAppend(tmp_ / "one.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, ChatAppendAfterAFlipInTheLastLineIsRefused) {
  AppendChunks(5);
  const std::string dir = convs() + "/c";
  FlipLastLine(dir + "/chunks.jsonl");
  const Snapshot before = Snap(dir);
  ASSERT_TRUE(WriteFile(tmp_ / "one.jsonl", R"({"role":"user","chunk":{"type":"text","text":"new"}})" "\n"));
  const ProcessResult r = ChatAppend(tmp_ / "one.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, ConversationReplayOfAFlippedBitIsCorruption) {
  AppendChunks(5);
  const std::string f = convs() + "/c/chunks.jsonl";
  const std::string whole = ReadFile(f).value();
  std::string c = whole;
  c[c.find('\n') + 3] ^= 0x02;  // line 2
  ASSERT_TRUE(WriteFile(f, c));
  const ProcessResult r = RunCli({"replay", convs() + "/c"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(RunCli({"verify", convs() + "/c"}).exit_code, 1);
  // The last line of a closed conversation (seq 5 <= durable.seq 5) is no
  // torn tail either: replay must not serve 1..4 and exit 0.
  ASSERT_TRUE(WriteFile(f, whole));
  FlipLastLine(f);
  const ProcessResult last = RunCli({"replay", convs() + "/c"});
  EXPECT_EQ(last.exit_code, 1) << last.out;
  EXPECT_EQ(RunCli({"verify", convs() + "/c"}).exit_code, 1);
}

TEST_F(DamageReproTest, ARunOfAnotherContractImplementationIsRecordsForEveryEntryPoint) {
  std::mt19937_64 rng(SeedFromEnv(7));
  ASSERT_TRUE(WriteForeignRun(tmp_.path(), true, 0, rng));
  const std::string dir = tmp_ / "runs/mtask/mrun";
  const ProcessResult v = RunCli({"verify", dir});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  const ProcessResult ls = RunCli({"ls", "--json", runs()});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(FirstUint(ls.out, "entries"), std::optional<std::uint64_t>(12)) << ls.out;
  const ProcessResult s = RunCli({"summary", dir});
  EXPECT_EQ(FirstUint(s.out, "lastSeq"), std::optional<std::uint64_t>(12)) << s.out;
  const Snapshot before = Snap(dir);
  const ProcessResult e =
      RunCli({"exec", "--runs-root", runs(), "--task", "mtask", "--run", "mrun", "--quiet", "--", "/bin/true"});
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_EQ(DiffSnap(before, Snap(dir)), "");
}

TEST_F(DamageReproTest, RepairNeverCutsAWholeLineOfARunningForeignRun) {
  std::mt19937_64 rng(SeedFromEnv(8));
  ASSERT_TRUE(WriteForeignRun(tmp_.path(), false, 6, rng));
  const std::string dir = tmp_ / "runs/mtask/mrun";
  const Snapshot before = Snap(dir);
  const ProcessResult r = RunCli({"verify", "--repair", dir});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* f : kChannelFiles) EXPECT_EQ(Snap(dir)[f], before.at(f)) << f;
}

// 1,100 runs read with at most 1,024 descriptors (set in the child only).
TEST_F(DamageReproTest, ReadersOfARootShowEveryRunWhateverTheDescriptorLimit) {
  constexpr int kRuns = 1100;
  for (int i = 0; i < kRuns; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%04d", i);
    const std::string dir = tmp_ / (std::string("runs/t/") + id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    ASSERT_TRUE(WriteFile(dir + "/meta.json", std::string(R"({"taskId":"t","stepId":"s","runId":")") + id + "\"}"));
    ASSERT_TRUE(WriteFile(dir + "/stdout.jsonl",
                          R"({"seq":1,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"x"})" "\n"));
  }
  for (const char* cmd : {"replay", "summary"}) {
    const ProcessResult r = RunProcess({"/bin/sh", "-c",
                                        "ulimit -n 1024 && exec '" + std::string(RUNLOG_CLI_PATH) + "' " + cmd + " '" +
                                            runs() + "'"},
                                       std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err.substr(0, 500);
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), kRuns) << cmd;
  }
}

TEST_F(DamageReproTest, AStrayChunksFileInARunFolderIsAnError) {
  ExecClosedRun();
  ASSERT_TRUE(WriteFile(run_dir() + "/chunks.jsonl", ""));
  for (const char* cmd : {"replay", "summary"}) {
    const ProcessResult r = RunCli({cmd, run_dir()});
    EXPECT_EQ(r.exit_code, 1) << cmd << " printed " << r.out.size() << " bytes";
  }
}

TEST_F(DamageReproTest, VerifyReportsASymlinkedTaskFolder) {
  ExecClosedRun();
  std::error_code ec;
  fs::create_directories(tmp_ / "elsewhere", ec);
  fs::rename(tmp_ / "runs/t", tmp_ / "elsewhere/t", ec);
  ASSERT_FALSE(ec);
  fs::create_directory_symlink(tmp_ / "elsewhere/t", tmp_ / "runs/t", ec);
  ASSERT_FALSE(ec);
  const ProcessResult r = RunCli({"verify", runs()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST_F(DamageReproTest, VerifyReportsASymlinkedArtifactsFolder) {
  ExecClosedRun();
  std::error_code ec;
  fs::create_directories(tmp_ / "outside", ec);
  fs::remove_all(run_dir() + "/artifacts", ec);
  fs::create_directory_symlink(tmp_ / "outside", run_dir() + "/artifacts", ec);
  ASSERT_FALSE(ec);
  const ProcessResult r = RunCli({"verify", runs()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("artifacts"), std::string::npos) << r.out;
}

}  // namespace repro

}  // namespace
}  // namespace runlog::testing
