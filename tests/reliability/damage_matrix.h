// tests/reliability/damage_matrix.h — the verbs of the damage-matrix tests
// (damage_matrix_test.cpp, damage_repro_test.cpp): the oracle that says from
// SPEC "Recovery" alone what every entry point must answer
// (damage_oracle.cpp), the subjects and the damage (damage_subjects.cpp), and
// the switch: both tests are skipped, loudly, unless RUNLOG_DAMAGE_MATRIX=1 or
// kDamageMatrixOnByDefault is true.
//
// Threads: every function may be called from any thread, except
// WriteEngineRun/WriteConversation with close = false, which end the process
// (call them in a forked child).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "runlog/engine.h"

namespace runlog::testing {

/// Turn the damage-matrix tests on for every build: set to true.
inline constexpr bool kDamageMatrixOnByDefault = true;

inline bool DamageMatrixEnabled() {
  const char* v = std::getenv("RUNLOG_DAMAGE_MATRIX");
  return kDamageMatrixOnByDefault || (v != nullptr && std::strcmp(v, "1") == 0);
}

}  // namespace runlog::testing

#define RUNLOG_REQUIRE_DAMAGE_MATRIX()                                                              \
  do {                                                                                              \
    if (!::runlog::testing::DamageMatrixEnabled())                                                  \
      GTEST_SKIP() << "SKIPPED: the damage matrix (SPEC \"Recovery\": one verdict for every entry " \
                      "point) is off until recovery makes that one decision; run it with "          \
                      "RUNLOG_DAMAGE_MATRIX=1, or set kDamageMatrixOnByDefault in "                 \
                      "tests/reliability/damage_matrix.h";                                          \
  } while (0)

namespace runlog::testing::damage {

// ---- The oracle (damage_oracle.cpp) ---------------------------------------

/// One line of a channel file, as the oracle reads it.
struct Line {
  std::size_t offset = 0;
  std::string bytes;      ///< without its '\n'
  bool complete = false;  ///< followed by '\n'
  bool valid = false;     ///< a record of its channel (see OracleLines)
  std::uint64_t seq = 0;  ///< when valid
};

/// The lines of `content`, a channel file of `channel` ("worker", "stdout",
/// "stderr", or "chunks" for a conversation). A line is valid when it is
/// complete, one JSON object with seq >= 1 and the string/object fields of its
/// contract type (and, for runs, its channel), and, when it carries a crc,
/// that crc is the CRC32C of the bytes before `,"crc":"`.
std::vector<Line> OracleLines(const std::string& content, std::string_view channel);

enum class Verdict { clean, torn, corrupt, none };
const char* VerdictName(Verdict v);

/// One stream folder, as the oracle sees it.
struct Stream {
  bool conversation = false;
  std::vector<std::string> files;              ///< channel file names
  std::map<std::string, std::string> content;  ///< file -> bytes
  std::optional<std::uint64_t> durable;        ///< durable.seq
  std::optional<std::uint64_t> last_event;     ///< state.json lastEventSeq
  std::string status;                          ///< state.json status
};

/// "worker" for "worker.jsonl".
std::string ChannelOf(const std::string& file);
/// durable.seq of `dir` (20 digits and '\n'); nullopt when missing or malformed.
std::optional<std::uint64_t> ParseDurable(const std::string& dir);
Stream LoadStream(const std::string& dir, bool conversation);

/// What SPEC "Recovery" says of a stream.
struct Expect {
  Verdict verdict = Verdict::clean;
  std::uint64_t W = 0;                       ///< max(durable.seq, lastEventSeq)
  std::uint64_t N = 0;                       ///< the last good seq (not corrupt)
  std::uint64_t max_seq = 0;                 ///< the highest valid seq present
  std::map<std::string, std::string> floor;  ///< per file: its lines with seq <= W
  std::map<std::string, std::string> keep;   ///< per file: its lines with seq <= N
  std::string why;
};

/// W = max(durable.seq, lastEventSeq). Damage with a valid record after it in
/// its file, a seq that repeats or goes backwards, or any of 1..W missing:
/// corrupt. Else N = the largest n >= W with 1..n present; a damaged tail or a
/// record past N: torn; else clean.
Expect Oracle(const Stream& st);

/// The "seq" of every JSON line of `out`.
std::vector<std::uint64_t> SeqsOfJsonLines(const std::string& out);
/// The first `key` (an unsigned integer) of the JSON lines of `out`.
std::optional<std::uint64_t> FirstUint(const std::string& out, const char* key);

/// Every regular file below a folder: relative path -> bytes.
using Snapshot = std::map<std::string, std::string>;
Snapshot Snap(const std::string& dir);
/// "" when equal, else what changed ("state.json 202->146 bytes; ...").
std::string DiffSnap(const Snapshot& a, const Snapshot& b);
/// completed, failed or blocked.
bool Terminal(const std::string& status);

// ---- Subjects and damage (damage_subjects.cpp) ----------------------------

inline constexpr const char* kTask = "mtask";
inline constexpr const char* kRun = "mrun";
inline constexpr const char* kConv = "mconv";

enum class Kind { run, foreign, conversation };

struct Subject {
  std::string name;  ///< "engine/closed", ...
  Kind kind = Kind::run;
  std::string root;  ///< a case folder holding runs/ and convs/
  std::string dir() const {
    return kind == Kind::conversation ? root + "/convs/" + kConv : root + "/runs/" + kTask + "/" + kRun;
  }
};

/// The metadata of the run kTask/kRun, and options rooted at `root`.
RunMetadata MatrixMeta();
Options MatrixOptions(const std::string& root);

/// The engine writes kTask/kRun under `root`, one record at a time, each
/// waited for: 1 worker_started, 2..10 stdout/stderr and one step_prepared;
/// then worker_exited and step_completed and a close (`close`), or one more
/// step_prepared and _exit(0) without a close. 0 or a code saying what failed.
int WriteEngineRun(const std::string& root, bool close);
/// The same for the conversation kConv: 6 text chunks.
int WriteConversation(const std::string& root, bool close);
/// kTask/kRun as a TypeScript implementation of local-run.ts writes it:
/// meta.json and state.json by JSON.stringify, lines with the context, no crc,
/// keys shuffled by `rng`, eventIds "evt-N", no durable.seq. Closed: 12
/// records, completed, lastEventSeq 12; else 11, running, lastEventSeq
/// `running_floor`.
bool WriteForeignRun(const std::string& root, bool closed, std::uint64_t running_floor, std::mt19937_64& rng);
/// Replaces durable.seq of `dir` with `v`.
bool WriteDurable(const std::string& dir, std::uint64_t v);

enum class Damage { flip, del, truncate, garbage, zero };
inline constexpr std::array<Damage, 5> kDamages = {Damage::flip, Damage::del, Damage::truncate, Damage::garbage,
                                                   Damage::zero};
const char* DamageName(Damage d);
/// Damages line `li` of `c` (whose lines end in '\n'): one bit flipped (of
/// the opening '{' for a `foreign` line, which has no crc; anywhere before the
/// '\n' otherwise), the line deleted, the file cut inside it, garbage appended
/// at the end (`last`) or inserted after it, or a range of it zeroed.
void ApplyDamage(Damage d, std::string& c, std::size_t li, bool last, bool foreign, std::mt19937_64& rng);
std::size_t CountLines(const std::string& c);
/// The seq of line `li` of `c` (0 when it is not valid).
std::uint64_t SeqOfLine(const std::string& c, std::size_t li, std::string_view channel);

}  // namespace runlog::testing::damage
