// core/lifecycle.cpp — see core/lifecycle.h.
#include "core/lifecycle.h"

namespace runlog {

bool apply_lifecycle_event(RunStateSnapshot* state, EventType type, std::optional<std::int64_t> exit_code,
                           std::string_view created_at) {
  RunStateSnapshot& st = *state;
  bool changed = false;
  auto set_status = [&](RunStatus v) {
    if (st.status != v) {
      st.status = v;
      changed = true;
    }
    if (is_final(v)) {
      if (!st.finishedAt) st.finishedAt.emplace();
      st.finishedAt->assign(created_at);
    }
  };
  switch (type) {
    case EventType::worker_started: set_status(RunStatus::running); break;
    case EventType::step_completed: set_status(RunStatus::completed); break;
    case EventType::step_failed: set_status(RunStatus::failed); break;
    case EventType::step_blocked: set_status(RunStatus::blocked); break;
    case EventType::worker_exited:
      if (exit_code) {
        st.exitCode = *exit_code;
        changed = true;
      }
      break;
    case EventType::checkpoint_slot_reserved:
      ++st.checkpointSeq;
      changed = true;
      break;
    case EventType::run_prepared:
    case EventType::worker_execution_deferred:
    case EventType::step_prepared:
      break;
  }
  st.updatedAt.assign(created_at);
  return changed;
}

}  // namespace runlog
