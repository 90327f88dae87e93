// io/run_dir.cpp — the local-run-v1 folder of one run (see io/run_dir.h).
//
// open_run_dir() takes one path for new and existing runs, so that a folder
// left half-made by a crash during creation is simply completed:
//   1. folders and files opened, made when missing (nothing is ever deleted);
//   2. meta.json read back (or, when missing, taken from the caller);
//   3. the channels scanned (io/scanner.h, io/recovery.h) against the floor W (durable.seq,
//      state.json); corruption stops here, with nothing rewritten;
//   4. meta.json written when it was missing; cuts made and fdatasync-ed;
//      temp files left by interrupted atomic writes removed;
//   5. the run folder, the task folder and the runs root fsync-ed (their
//      entries may be from a creation that crashed before its syncs);
//   6. state.json rewritten when it disagrees with the log; durable.seq too.
// A crash between any two steps leaves a folder the next call handles.
#include "io/run_dir.h"

#include <simdjson.h>

#include <cstring>
#include <string>
#include <utility>

#include "core/ids.h"
#include "core/timefmt.h"
#include "core/utf8.h"
#include "io/recovery.h"

namespace runlog::io {
namespace {

constexpr std::string_view kMetaFile = "meta.json";
constexpr std::string_view kStateFile = "state.json";
constexpr std::string_view kCheckpointsDir = "checkpoints";
constexpr std::string_view kArtifactsDir = "artifacts";
constexpr std::size_t kDurableSeqBytes = 21;

void add_key(std::string* out, std::string_view key) {
  if (out->size() > 1) *out += ',';
  append_json_string(out, key);
  *out += ':';
}
void add_string(std::string* out, std::string_view key, std::string_view value) {
  add_key(out, key);
  append_json_string(out, value);
}
template <class Int>
void add_int(std::string* out, std::string_view key, Int value) {
  add_key(out, key);
  *out += std::to_string(value);
}

// Field readers for meta_from_json / state_from_json: invalid_argument names
// the file and the field.
class Fields {
 public:
  Fields(const char* file, simdjson::dom::object obj) : file_(file), obj_(obj) {}

  Status str(const char* key, std::string* out) const {
    std::string_view v;
    auto r = obj_[key];
    if (r.error() == simdjson::NO_SUCH_FIELD) return bad(key, "missing");
    if (r.get_string().get(v)) return bad(key, "not a string");
    *out = std::string(v);
    return Status::OK();
  }
  Status opt_str(const char* key, std::optional<std::string>* out) const {
    auto r = obj_[key];
    if (r.error() == simdjson::NO_SUCH_FIELD || r.is_null()) {
      out->reset();
      return Status::OK();
    }
    std::string_view v;
    if (r.get_string().get(v)) return bad(key, "not a string");
    *out = std::string(v);
    return Status::OK();
  }
  Status i64(const char* key, std::int64_t* out) const {
    auto r = obj_[key];
    if (r.error() == simdjson::NO_SUCH_FIELD) return bad(key, "missing");
    if (r.get_int64().get(*out)) return bad(key, "not an integer");
    return Status::OK();
  }
  Status opt_i64(const char* key, std::optional<std::int64_t>* out) const {
    auto r = obj_[key];
    if (r.error() == simdjson::NO_SUCH_FIELD || r.is_null()) {
      out->reset();
      return Status::OK();
    }
    std::int64_t v = 0;
    if (r.get_int64().get(v)) return bad(key, "not an integer");
    *out = v;
    return Status::OK();
  }
  Status u64(const char* key, std::uint64_t* out) const {
    auto r = obj_[key];
    if (r.error() == simdjson::NO_SUCH_FIELD) return bad(key, "missing");
    if (r.get_uint64().get(*out)) return bad(key, "not a non-negative integer");
    return Status::OK();
  }
  Status bad(const char* key, std::string_view why) const {
    return Status::Invalid(std::string(file_) + ": field \"" + key + "\": " + std::string(why));
  }

 private:
  const char* file_;
  simdjson::dom::object obj_;
};

Status parse_object(const char* file, std::string_view json, simdjson::dom::parser* parser,
                    simdjson::dom::object* obj) {
  simdjson::dom::element root;
  if (auto err = parser->parse(json.data(), json.size()).get(root))
    return Status::Invalid(std::string(file) + ": not JSON: " + simdjson::error_message(err));
  if (root.get_object().get(*obj)) return Status::Invalid(std::string(file) + ": not a JSON object");
  return Status::OK();
}

RunStateSnapshot initial_state(const RunMetadata& meta) {
  RunStateSnapshot s;
  s.status = RunStatus::prepared;
  s.attempt = meta.attempt;
  s.startedAt = meta.createdAt;
  s.updatedAt = meta.createdAt;
  return s;
}

std::string join(const Dir& dir, std::string_view name) { return dir.path() + "/" + std::string(name); }

// Reads meta.json of an existing run folder: *found = false when missing.
Status read_meta(Dir& run, const RunMetadata& given, RunMetadata* out, bool* found) {
  *found = false;
  std::string text;
  Status st = read_file(run, kMetaFile).get(text);
  if (st.code() == Errc::not_found) return Status::OK();
  RUNLOG_RETURN_IF_ERROR(st);
  Result<RunMetadata> parsed = meta_from_json(text);
  if (!parsed.ok()) return Status::Corruption(join(run, kMetaFile) + ": " + parsed.status().message());
  if (parsed->taskId != given.taskId || parsed->runId != given.runId) {
    return Status::Corruption(join(run, kMetaFile) + ": names task \"" + parsed->taskId + "\" run \"" +
                              parsed->runId + "\", not the folder's \"" + given.taskId + "\" / \"" +
                              given.runId + "\"");
  }
  *out = std::move(parsed).value();
  *found = true;
  return Status::OK();
}

// Reads the whole (small) durable.seq through its open descriptor.
Result<std::string> read_small(File& f, std::size_t max) {
  std::string s(max, '\0');
  std::size_t got = 0;
  RUNLOG_RETURN_IF_ERROR(f.pread(s.data(), s.size(), 0, &got));
  s.resize(got);
  return s;
}

// Reads the worker record `rec` and applies it to *state.
Status apply_worker_record(File& worker, const ScannedRecord& rec, LifecycleReplay* replay, std::string* line,
                           RunStateSnapshot* state) {
  line->resize(rec.length);
  std::size_t got = 0;
  RUNLOG_RETURN_IF_ERROR(worker.pread(line->data(), line->size(), rec.offset, &got));
  if (got != line->size())
    return Status(Errc::io_error, 0, "read " + worker.path() + " at offset " + std::to_string(rec.offset) +
                                         ": file shrank during recovery");
  if (Status st = replay->apply(*line, state); !st.ok())
    return Status::Corruption(worker.path() + ":" + std::to_string(rec.offset) + ": " + st.message());
  return Status::OK();
}

// Applies the worker records with seq <= to of `worker` to *state.
Status replay_worker(File& worker, std::uint64_t to, RunStateSnapshot* state) {
  LifecycleReplay replay;
  ChannelScanner scanner(worker);
  std::string line;
  for (;;) {
    ScannedRecord rec;
    bool have = false;
    RUNLOG_RETURN_IF_ERROR(scanner.next(&rec, &have));
    if (!have || rec.seq > to) return Status::OK();
    RUNLOG_RETURN_IF_ERROR(apply_worker_record(worker, rec, &replay, &line, state));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// JSON bodies

std::string meta_to_json(const RunMetadata& m) {
  std::string out = "{";
  add_string(&out, "layoutVersion", kRunLayoutVersion);
  add_string(&out, "taskId", m.taskId);
  add_string(&out, "stepId", m.stepId);
  add_string(&out, "stepName", m.stepName);
  add_string(&out, "runId", m.runId);
  add_string(&out, "workerKind", m.workerKind);
  add_int(&out, "attempt", m.attempt);
  add_string(&out, "repoRoot", m.repoRoot);
  add_string(&out, "worktreePath", m.worktreePath);
  add_string(&out, "createdAt", m.createdAt);
  add_string(&out, "checkpointMode", m.checkpointMode);
  if (m.promptSummary) add_string(&out, "promptSummary", *m.promptSummary);
  if (m.command) add_string(&out, "command", *m.command);
  out += "}\n";
  return out;
}

Result<RunMetadata> meta_from_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  RUNLOG_RETURN_IF_ERROR(parse_object("meta.json", json, &parser, &obj));
  Fields f("meta.json", obj);
  std::string layout;
  RUNLOG_RETURN_IF_ERROR(f.str("layoutVersion", &layout));
  if (layout != kRunLayoutVersion)
    return f.bad("layoutVersion", "\"" + layout + "\" is not " + std::string(kRunLayoutVersion));
  RunMetadata m;
  RUNLOG_RETURN_IF_ERROR(f.str("taskId", &m.taskId));
  RUNLOG_RETURN_IF_ERROR(f.str("stepId", &m.stepId));
  RUNLOG_RETURN_IF_ERROR(f.str("stepName", &m.stepName));
  RUNLOG_RETURN_IF_ERROR(f.str("runId", &m.runId));
  RUNLOG_RETURN_IF_ERROR(f.str("workerKind", &m.workerKind));
  RUNLOG_RETURN_IF_ERROR(f.i64("attempt", &m.attempt));
  RUNLOG_RETURN_IF_ERROR(f.str("repoRoot", &m.repoRoot));
  RUNLOG_RETURN_IF_ERROR(f.str("worktreePath", &m.worktreePath));
  RUNLOG_RETURN_IF_ERROR(f.str("createdAt", &m.createdAt));
  RUNLOG_RETURN_IF_ERROR(f.str("checkpointMode", &m.checkpointMode));
  RUNLOG_RETURN_IF_ERROR(f.opt_str("promptSummary", &m.promptSummary));
  RUNLOG_RETURN_IF_ERROR(f.opt_str("command", &m.command));
  return m;
}

std::string state_to_json(const RunStateSnapshot& s) {
  std::string out = "{";
  add_string(&out, "status", status_name(s.status));
  add_int(&out, "attempt", s.attempt);
  add_string(&out, "startedAt", s.startedAt);
  add_string(&out, "updatedAt", s.updatedAt);
  if (s.finishedAt) add_string(&out, "finishedAt", *s.finishedAt);
  add_int(&out, "lastEventSeq", s.lastEventSeq);
  add_int(&out, "checkpointSeq", s.checkpointSeq);
  if (s.summary) add_string(&out, "summary", *s.summary);
  if (s.exitCode) add_int(&out, "exitCode", *s.exitCode);
  out += "}\n";
  return out;
}

Result<RunStateSnapshot> state_from_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  RUNLOG_RETURN_IF_ERROR(parse_object("state.json", json, &parser, &obj));
  Fields f("state.json", obj);
  RunStateSnapshot s;
  std::string status;
  RUNLOG_RETURN_IF_ERROR(f.str("status", &status));
  std::optional<RunStatus> parsed = parse_status(status);
  if (!parsed) return f.bad("status", "\"" + status + "\" is not a RunStatus");
  s.status = *parsed;
  RUNLOG_RETURN_IF_ERROR(f.i64("attempt", &s.attempt));
  RUNLOG_RETURN_IF_ERROR(f.str("startedAt", &s.startedAt));
  RUNLOG_RETURN_IF_ERROR(f.str("updatedAt", &s.updatedAt));
  RUNLOG_RETURN_IF_ERROR(f.opt_str("finishedAt", &s.finishedAt));
  RUNLOG_RETURN_IF_ERROR(f.u64("lastEventSeq", &s.lastEventSeq));
  RUNLOG_RETURN_IF_ERROR(f.u64("checkpointSeq", &s.checkpointSeq));
  RUNLOG_RETURN_IF_ERROR(f.opt_str("summary", &s.summary));
  RUNLOG_RETURN_IF_ERROR(f.opt_i64("exitCode", &s.exitCode));
  return s;
}

// ---------------------------------------------------------------------------
// Small files

Status lock_writer(File& durable_seq, std::string_view what) {
  Status st = durable_seq.lock_exclusive();
  if (st.code() != Errc::refused) return st;
  return Status(Errc::refused, st.sys_errno(),
                "lock " + durable_seq.path() + ": the " + std::string(what) + " is open in another writer");
}

Status write_state(Dir& run_dir, const RunStateSnapshot& state, const LayoutOptions& opts) {
  return write_file_atomic(run_dir, kStateFile, state_to_json(state), opts.file_mode);
}

// durable.seq is rewritten in place and never synced, so a power loss may
// keep any prefix of its writes, the last one torn at any byte. One 21-byte
// write torn half-way would mix new leading digits with old trailing ones:
// "...09" -> "...10" torn after the '1' reads "...19", a seq nobody
// acknowledged, and recovery trusts durable.seq as its floor. So only the
// bytes that change are written, one byte per write, from the last digit to
// the first: whatever prefix of those writes survives reads as the old
// value's high digits over the new value's low ones, never above the new
// value (the new value is larger; equal high digits give the new value, a
// smaller high digit gives less than the new value). A file that holds no
// value yet gets one whole write: torn, it holds no value either.
namespace {
void format_durable_seq(std::uint64_t seq, char (&buf)[kDurableSeqBytes]) {
  for (int i = 19; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + seq % 10);
    seq /= 10;
  }
  buf[20] = '\n';
}
}  // namespace

Status write_durable_seq(File& durable_seq, std::uint64_t seq, std::uint64_t* written) {
  char buf[kDurableSeqBytes];
  format_durable_seq(seq, buf);
  char old[kDurableSeqBytes + 1];
  std::size_t got = 0;
  const bool known = written != nullptr && *written != kDurableUnknown;
  if (known) {
    char last[kDurableSeqBytes];
    format_durable_seq(*written, last);
    std::memcpy(old, last, sizeof last);
    got = sizeof last;
    *written = kDurableUnknown;  // until every write below succeeded
  } else {
    RUNLOG_RETURN_IF_ERROR(durable_seq.pread(old, sizeof old, 0, &got));
  }
  // Not a value yet (just made, or garbage): one write, so that a killed
  // process leaves the old bytes or the new ones, never a half-made file.
  if (!known && !parse_durable_seq(std::string_view(old, got))) {
    RUNLOG_RETURN_IF_ERROR(durable_seq.pwrite(buf, sizeof buf, 0));
  } else {
    for (int i = static_cast<int>(kDurableSeqBytes) - 1; i >= 0; --i) {
      const auto at = static_cast<std::size_t>(i);
      if (at < got && old[at] == buf[at]) continue;
      RUNLOG_RETURN_IF_ERROR(durable_seq.pwrite(buf + at, 1, at));
    }
  }
  if (written != nullptr) *written = seq;
  return Status::OK();
}

std::optional<std::uint64_t> parse_durable_seq(std::string_view content) {
  if (content.size() != kDurableSeqBytes || content.back() != '\n') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    char c = content[i];
    if (c < '0' || c > '9') return std::nullopt;
    unsigned d = static_cast<unsigned>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

Result<DurableMark> read_durable_mark(File& durable_seq) {
  DurableMark m;
  m.present = true;
  bool locked = false;
  if (durable_seq.locked_by_other().get(locked).ok()) m.live = locked;
  char buf[64];
  std::size_t got = 0;
  RUNLOG_RETURN_IF_ERROR(durable_seq.pread(buf, sizeof buf, 0, &got));
  m.text.assign(buf, got);
  m.seq = got == 0 ? std::optional<std::uint64_t>(0) : parse_durable_seq(m.text);
  return m;
}

Result<DurableMark> read_durable_mark(Dir& dir) {
  std::unique_ptr<File> f;
  Status st = dir.open_file(kDurableFile, OpenMode::read_only, 0).get(f);
  if (st.code() == Errc::not_found) return DurableMark{};
  RUNLOG_RETURN_IF_ERROR(st);
  return read_durable_mark(*f);
}

Status create_checkpoint_dir(Dir& run_dir, std::uint64_t n, const LayoutOptions& opts) {
  bool made = false;
  std::unique_ptr<Dir> cp;
  RUNLOG_RETURN_IF_ERROR(run_dir.open_dir(kCheckpointsDir, true, opts.dir_mode, &made).get(cp));
  if (made) RUNLOG_RETURN_IF_ERROR(run_dir.sync());
  std::unique_ptr<Dir> slot;
  RUNLOG_RETURN_IF_ERROR(cp->open_dir(std::to_string(n), true, opts.dir_mode).get(slot));
  // Always synced: an existing slot may be from a call that crashed before its sync.
  return cp->sync();
}

// ---------------------------------------------------------------------------
// Opening

namespace {

Status open_files(Dir& run, OpenMode mode, mode_t perm, RunFiles* f) {
  for (int c = 0; c < kRunChannels; ++c)
    RUNLOG_RETURN_IF_ERROR(run.open_file(channel_file_name(static_cast<Channel>(c)), mode, perm).get(f->channel[c]));
  return run.open_file(kDurableFile, mode, perm).get(f->durable_seq);
}

}  // namespace

Result<RecoveryPlan> peek_run(Dir& run) {
  static const std::array<std::string_view, kRunChannels> kNames = {
      channel_file_name(Channel::worker), channel_file_name(Channel::stdout_), channel_file_name(Channel::stderr_)};
  return plan_stream_read_only(run, kNames);
}

Result<std::uint64_t> peek_run_records(Dir& runs_root, std::string_view task_id, std::string_view run_id) {
  RUNLOG_RETURN_IF_ERROR(validate_id("taskId", task_id));
  RUNLOG_RETURN_IF_ERROR(validate_id("runId", run_id));
  std::unique_ptr<Dir> task, run;
  if (Status st = runs_root.open_dir(task_id, false, 0).get(task); !st.ok())
    return st.code() == Errc::not_found ? Result<std::uint64_t>(std::uint64_t{0}) : Result<std::uint64_t>(st);
  if (Status st = task->open_dir(run_id, false, 0).get(run); !st.ok())
    return st.code() == Errc::not_found ? Result<std::uint64_t>(std::uint64_t{0}) : Result<std::uint64_t>(st);
  RecoveryPlan plan;
  RUNLOG_RETURN_IF_ERROR(peek_run(*run).get(plan));
  return plan.last_seq;
}

Status reopen_run_files(Dir& runs_root, std::string_view task_id, std::string_view run_id, RunFiles* files) {
  RUNLOG_RETURN_IF_ERROR(validate_id("taskId", task_id));
  RUNLOG_RETURN_IF_ERROR(validate_id("runId", run_id));
  std::unique_ptr<Dir> task;
  RUNLOG_RETURN_IF_ERROR(runs_root.open_dir(task_id, false, 0).get(task));
  RunFiles f;
  RUNLOG_RETURN_IF_ERROR(task->open_dir(run_id, false, 0).get(f.dir));
  for (int c = 0; c < kRunChannels; ++c)
    RUNLOG_RETURN_IF_ERROR(
        f.dir->open_file(channel_file_name(static_cast<Channel>(c)), OpenMode::read_write, 0).get(f.channel[c]));
  f.durable_seq = std::move(files->durable_seq);
  *files = std::move(f);
  return Status::OK();
}

Result<RecoveredRun> open_run_dir(Dir& runs_root, const RunMetadata& meta, const LayoutOptions& opts,
                                  RunFiles* files) {
  RUNLOG_RETURN_IF_ERROR(validate_id("taskId", meta.taskId));
  RUNLOG_RETURN_IF_ERROR(validate_id("runId", meta.runId));
  RecoveredRun out;

  // 1. Folders and files, made when missing.
  std::unique_ptr<Dir> task;
  RUNLOG_RETURN_IF_ERROR(runs_root.open_dir(meta.taskId, true, opts.dir_mode).get(task));
  RunFiles f;
  RUNLOG_RETURN_IF_ERROR(task->open_dir(meta.runId, true, opts.dir_mode, &out.created).get(f.dir));
  Dir& run = *f.dir;
  // An existing run gets its verdict read-only first: corruption is refused
  // before anything (durable.seq, checkpoints/, artifacts/) is created in it.
  if (!out.created) {
    Status peek = peek_run(run).status();
    if (peek.code() == Errc::corruption) return peek;
  }
  for (std::string_view sub : {kCheckpointsDir, kArtifactsDir}) {
    std::unique_ptr<Dir> d;
    RUNLOG_RETURN_IF_ERROR(run.open_dir(sub, true, opts.dir_mode).get(d));
  }
  RUNLOG_RETURN_IF_ERROR(open_files(run, OpenMode::create, opts.file_mode, &f));
  // Nothing is read or changed under another writer.
  RUNLOG_RETURN_IF_ERROR(lock_writer(*f.durable_seq, "run"));

  // 2. meta.json: as on disk, or the caller's when missing.
  bool meta_on_disk = false;
  if (!out.created) RUNLOG_RETURN_IF_ERROR(read_meta(run, meta, &out.meta, &meta_on_disk));
  if (!meta_on_disk) {
    out.meta = meta;
    if (out.meta.createdAt.empty()) out.meta.createdAt = iso_ms(now_unix_ms());
  }

  // The state to bring up to date: state.json, or the initial one.
  std::string state_text;
  bool state_on_disk = false;
  RunStateSnapshot base = initial_state(out.meta);
  if (Status st = read_file(run, kStateFile).get(state_text); st.ok()) {
    if (Result<RunStateSnapshot> parsed = state_from_json(state_text); parsed.ok()) {
      base = std::move(parsed).value();
      state_on_disk = true;
    }
  } else if (st.code() != Errc::not_found) {
    return st;
  }

  // 3. Scan the channels; replay the worker records past the state's seq.
  File* channels[kRunChannels] = {f.channel[0].get(), f.channel[1].get(), f.channel[2].get()};
  File& worker = *f.channel[static_cast<int>(Channel::worker)];
  RunStateSnapshot state = base;
  LifecycleReplay replay;
  std::string line;
  auto visit = [&](std::size_t i, const ScannedRecord& rec) -> Status {
    if (i != static_cast<std::size_t>(Channel::worker) || rec.seq <= base.lastEventSeq) return Status::OK();
    return apply_worker_record(worker, rec, &replay, &line, &state);
  };
  // The floor W: what durable.seq and state.json vouch for; nothing at or
  // below it is ever cut (corruption instead, with nothing changed).
  std::uint64_t floor = 0;
  RUNLOG_RETURN_IF_ERROR(read_floor(run, f.durable_seq.get()).get(floor));
  RecoveryPlan plan;
  RUNLOG_RETURN_IF_ERROR(plan_recovery(channels, floor, visit).get(plan));
  const std::uint64_t n = plan.last_seq;
  if (base.lastEventSeq > n) {
    // state.json is ahead of the log (it should never be): rebuild from scratch.
    state = initial_state(out.meta);
    RUNLOG_RETURN_IF_ERROR(replay_worker(worker, n, &state));
  }
  state.lastEventSeq = n;

  // 4. meta.json when missing; the cuts, durably.
  if (!meta_on_disk) RUNLOG_RETURN_IF_ERROR(write_file_atomic(run, kMetaFile, meta_to_json(out.meta), opts.file_mode));
  RUNLOG_RETURN_IF_ERROR(apply_recovery_plan(channels, plan, &out.repairs));
  // Temp files of atomic writes that a crash interrupted.
  for (std::string_view tmp : {"meta.json.tmp", "state.json.tmp"}) RUNLOG_RETURN_IF_ERROR(run.remove(tmp));

  // 5. Every entry from here up to the runs root durable.
  RUNLOG_RETURN_IF_ERROR(run.sync());
  RUNLOG_RETURN_IF_ERROR(task->sync());
  RUNLOG_RETURN_IF_ERROR(runs_root.sync());

  // 6. state.json and durable.seq, when they disagree.
  const std::string state_json = state_to_json(state);
  if (!state_on_disk || state_json != state_text) RUNLOG_RETURN_IF_ERROR(write_state(run, state, opts));
  std::string durable;
  RUNLOG_RETURN_IF_ERROR(read_small(*f.durable_seq, 64).get(durable));
  if (parse_durable_seq(durable) != n) {
    RUNLOG_RETURN_IF_ERROR(write_durable_seq(*f.durable_seq, n, &f.durable_written));
    if (durable.size() > kDurableSeqBytes) RUNLOG_RETURN_IF_ERROR(f.durable_seq->truncate(kDurableSeqBytes));
  }

  out.last_seq = n;
  for (int c = 0; c < kRunChannels; ++c) out.sizes[c] = plan.channels[c].keep;
  out.summary.totalEntries = n;
  out.summary.lastSeq = n;
  out.summary.lifecycleEventCount = plan.channels[static_cast<int>(Channel::worker)].records;
  out.summary.stdoutChunkCount = plan.channels[static_cast<int>(Channel::stdout_)].records;
  out.summary.stderrChunkCount = plan.channels[static_cast<int>(Channel::stderr_)].records;
  out.state = std::move(state);
  *files = std::move(f);
  return out;
}

}  // namespace runlog::io
