// tools/run_start.h — what `runlog exec` and `runlog run` share around the
// start of a run: whether its folder already holds records (read without
// taking its lock and without changing anything), and how a run whose child
// never started ends.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "io/fs.h"
#include "io/run_dir.h"
#include "runlog/engine.h"

namespace runlog::tools {

/// The status of <runs_root>/<task>/<run> when one of its channel files is
/// not empty (a run that never wrote a record can be opened again): state.json's
/// status, "(live)" appended when a writer holds it, "running (abandoned)" when
/// io::is_abandoned(), "?" when state.json cannot be read. nullopt otherwise.
/// Any thread.
inline std::optional<std::string> existing_run_status(const std::string& runs_root, const std::string& task,
                                                      const std::string& run) {
  std::unique_ptr<io::Dir> root, tdir, rdir;
  if (!io::posix_fs()->open_root(runs_root, false, 0).get(root).ok() ||
      !root->open_dir(task, false, 0).get(tdir).ok() || !tdir->open_dir(run, false, 0).get(rdir).ok())
    return std::nullopt;
  bool holds = false;
  for (const char* name : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"}) {
    std::unique_ptr<io::File> f;
    std::uint64_t size = 0;
    if (rdir->open_file(name, io::OpenMode::read_only, 0).get(f).ok() && f->size().get(size).ok() && size > 0)
      holds = true;
  }
  if (!holds) return std::nullopt;
  bool live = false;
  if (io::DurableMark mark; io::read_durable_mark(*rdir).get(mark).ok()) live = mark.live;
  std::string text;
  RunStateSnapshot state;
  if (!io::read_file(*rdir, "state.json").get(text).ok() || !io::state_from_json(text).get(state).ok())
    return std::string(live ? "? (live)" : "?");
  if (io::is_abandoned(live, state.status)) return std::string("running (abandoned)");
  return std::string(status_name(state.status)) + (live ? " (live)" : "");
}

/// After capture_into_run() failed with `why` (no pipe, no descriptor): a run
/// whose child never started ends failed, with `why` in step_failed, rather
/// than staying "prepared" with no writer. Called by the thread that owns
/// `producer`; a failure to record it leaves the run as it is.
inline void fail_unstarted(Run& run, Producer& producer, const Status& why) {
  if (run.state().status != RunStatus::prepared) return;
  (void)producer.push_event(run, {EventType::step_failed, LogLevel::error, "step failed: " + why.message(), ""});
}

}  // namespace runlog::tools
