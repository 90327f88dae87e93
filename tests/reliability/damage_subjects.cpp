// tests/reliability/damage_subjects.cpp — what the damage matrix damages:
// runs and conversations the engine writes (closed, or left as a killed writer
// leaves them), runs as a TypeScript implementation of local-run.ts writes
// them, and the five kinds of damage.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "reliability/damage_matrix.h"
#include "runlog/conversation.h"
#include "runlog/engine.h"
#include "support/run_files.h"

namespace runlog::testing::damage {

namespace fs = std::filesystem;

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

namespace {

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

}  // namespace

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
    std::vector<std::pair<std::string, std::string>> m = {{"taskId", Q(kTask)},
                                                          {"stepId", Q("step-1")},
                                                          {"runId", Q(kRun)},
                                                          {"seq", std::to_string(n)},
                                                          {"createdAt", Q(at(n))}};
    if (shape[i] == 'W') {
      const char* type = n == 1                ? "worker_started"
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
  const std::string meta = std::string(R"({"layoutVersion":"local-run-v1","taskId":"mtask","stepId":"step-1",)") +
                           R"("stepName":"matrix","runId":"mrun","workerKind":"ts","attempt":1,"repoRoot":"/repo",)" +
                           R"("worktreePath":"/repo","createdAt":")" + at(0) + R"(","checkpointMode":"none"})";
  return WriteFile(dir + "/meta.json", meta) && WriteFile(dir + "/state.json", state) &&
         WriteFile(dir + "/worker.jsonl", files['W']) && WriteFile(dir + "/stdout.jsonl", files['O']) &&
         WriteFile(dir + "/stderr.jsonl", files['E']);
}

bool WriteDurable(const std::string& dir, std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu\n", static_cast<unsigned long long>(v));
  return WriteFile(dir + "/durable.seq", buf);
}

// ---------------------------------------------------------------------------
// Damage.

const char* DamageName(Damage d) {
  switch (d) {
    case Damage::flip:
      return "flip";
    case Damage::del:
      return "delete";
    case Damage::truncate:
      return "truncate";
    case Damage::garbage:
      return "garbage";
    case Damage::zero:
      return "zero";
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

}  // namespace runlog::testing::damage
