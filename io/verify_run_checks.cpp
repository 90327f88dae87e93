// io/verify_run_checks.cpp — a run's small files against each other and
// against its log: durable.seq, meta.json (the folder names), state.json
// (the lifecycle replayed up to lastEventSeq).
#include "io/verify_internal.h"

#include "core/ids.h"
#include "core/lifecycle.h"
#include "core/timefmt.h"

namespace runlog::io::verify_detail {

void check_durable(StreamCheck& s, std::uint64_t M, Findings& f) {
  const std::string path = join_path(s.job->path, kDurableFile);
  if (!s.durable_present) {
    // Another implementation of the contract writes none (SPEC).
    if (s.job->type == StreamType::run && !s.foreign_only) f.block(path, 0, "missing");
  } else if (!s.durable) {
    f.block(path, 0, "malformed: " + shown(s.durable_text) + " (want 20 digits and a newline)");
  } else if (!s.live && *s.durable > M) {
    f.block(path, 0, "says seq " + std::to_string(*s.durable) + " is durable, past the last record (seq " +
                         std::to_string(M) + ")");
  }
}

void check_meta(StreamCheck& s, Findings& f) {
  const std::string path = join_path(s.job->path, kMetaFile);
  if (!s.meta.present) {
    if (!s.live) f.block(path, 0, "missing");  // a live writer may be creating the run
    return;
  }
  if (!s.meta.ok) return f.block(path, 0, s.meta_error);
  const RunMetadata& m = s.meta.meta;
  if (!s.task_id.empty() && m.taskId != s.task_id)
    f.block(path, 0, "taskId " + shown(m.taskId) + " is not the task folder's name " + shown(s.task_id));
  else if (!is_valid_id(m.taskId))
    f.block(path, 0, "taskId " + shown(m.taskId) + " is not a valid id");
  if (!s.run_id.empty() && m.runId != s.run_id)
    f.block(path, 0, "runId " + shown(m.runId) + " is not the run folder's name " + shown(s.run_id));
  else if (!is_valid_id(m.runId))
    f.block(path, 0, "runId " + shown(m.runId) + " is not a valid id");
  if (!is_valid_id(m.stepId)) f.block(path, 0, "stepId " + shown(m.stepId) + " is not a valid id");
  if (m.attempt < 1) f.block(path, 0, "attempt " + std::to_string(m.attempt) + " is below 1");
  if (!parse_iso_ms(m.createdAt)) f.block(path, 0, "createdAt " + shown(m.createdAt) + " is not in toISOString form");
}

// state.json against meta.json and the log (M: last seq, N: end of the gap-free prefix).
void check_state(StreamCheck& s, const FileSummary& worker, std::uint64_t M, std::uint64_t N, Findings& f) {
  const std::string path = join_path(s.job->path, kStateFile);
  if (!s.state_present) {
    if (!s.live) f.block(path, 0, "missing");
    return;
  }
  if (!s.state) return f.block(path, 0, s.state_error);
  const RunStateSnapshot& st = *s.state;
  if (!s.live && st.lastEventSeq > M)
    f.block(path, 0, "lastEventSeq " + std::to_string(st.lastEventSeq) + " is past the last record (seq " +
                         std::to_string(M) + ")");
  if (s.meta.ok && st.attempt != s.meta.meta.attempt)
    f.block(path, 0, "attempt " + std::to_string(st.attempt) + ", but meta.json says " +
                         std::to_string(s.meta.meta.attempt));
  if (!parse_iso_ms(st.startedAt)) f.block(path, 0, "startedAt " + shown(st.startedAt) + " is not in toISOString form");
  if (!parse_iso_ms(st.updatedAt)) f.block(path, 0, "updatedAt " + shown(st.updatedAt) + " is not in toISOString form");
  if (st.finishedAt && !parse_iso_ms(*st.finishedAt))
    f.block(path, 0, "finishedAt " + shown(*st.finishedAt) + " is not in toISOString form");
  if (is_final(st.status) && !st.finishedAt)
    f.block(path, 0, "status " + shown(status_name(st.status)) + " without finishedAt");
  if (!s.live && (st.lastEventSeq < N || (s.durable_present && s.durable.value_or(0) < N))) s.unclosed = true;

  // Against the lifecycle, when every worker record up to lastEventSeq was read whole.
  if (!s.files[0].present || !s.replay.complete || !worker.damage.empty() || worker.order_problem ||
      st.lastEventSeq > N)
    return;
  const RunStateSnapshot& r = s.replay.state;
  if (st.status != r.status) {
    const std::string why = s.replay.status_seq == 0 ? "no status-changing event"
                                                     : "the last status-changing event is " + s.replay.status_type +
                                                           " at seq " + std::to_string(s.replay.status_seq);
    f.block(path, 0, "status " + shown(status_name(st.status)) + ", but the lifecycle up to lastEventSeq " +
                         std::to_string(st.lastEventSeq) + " gives " + shown(status_name(r.status)) + " (" + why + ")");
  }
  if (r.exitCode && st.exitCode != r.exitCode)
    f.block(path, 0, "exitCode " + (st.exitCode ? std::to_string(*st.exitCode) : std::string("absent")) +
                         ", but worker_exited says " + std::to_string(*r.exitCode));
  if (st.checkpointSeq < r.checkpointSeq)
    f.block(path, 0, "checkpointSeq " + std::to_string(st.checkpointSeq) + ", but " + std::to_string(r.checkpointSeq) +
                         " checkpoint slots were reserved up to lastEventSeq");
}


}  // namespace runlog::io::verify_detail
