// runlog/types.h — the contract's shapes (contracts/local-run.ts), in C++.
//
// Field names and value sets follow local-run.ts exactly; see docs/format.md for
// how each is written on disk. Plain values: safe to copy between threads.
#pragma once

#if __cplusplus < 202002L  // as in runlog/status.h: the public headers need C++20
#error "runlog's headers need C++20 or later: compile with -std=c++20"
#endif

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace runlog {

inline constexpr std::string_view kDefaultRunsDirectoryName = "runs";  // DEFAULT_RUNS_DIRECTORY_NAME
inline constexpr std::string_view kRunLayoutVersion = "local-run-v1";  // DEFAULT_RUN_LAYOUT_VERSION

/// WorkerLogChannel; the order is the on-disk channel index.
enum class Channel : std::uint8_t { worker = 0, stdout_ = 1, stderr_ = 2 };
inline constexpr int kRunChannels = 3;
/// "worker", "stdout", "stderr".
std::string_view channel_name(Channel c) noexcept;
/// "worker.jsonl", "stdout.jsonl", "stderr.jsonl".
std::string_view channel_file_name(Channel c) noexcept;

/// LogLevel.
enum class LogLevel : std::uint8_t { debug, info, warn, error };
std::string_view level_name(LogLevel l) noexcept;
std::optional<LogLevel> parse_level(std::string_view s) noexcept;

/// RunStatus.
enum class RunStatus : std::uint8_t { prepared, running, completed, failed, blocked };
std::string_view status_name(RunStatus s) noexcept;
std::optional<RunStatus> parse_status(std::string_view s) noexcept;
/// completed, failed and blocked are final.
inline bool is_final(RunStatus s) noexcept {
  return s == RunStatus::completed || s == RunStatus::failed || s == RunStatus::blocked;
}

/// WorkerLifecycleEventType.
enum class EventType : std::uint8_t {
  run_prepared,
  checkpoint_slot_reserved,
  worker_started,
  worker_execution_deferred,
  worker_exited,
  step_prepared,
  step_completed,
  step_failed,
  step_blocked,
};
std::string_view event_type_name(EventType t) noexcept;
std::optional<EventType> parse_event_type(std::string_view s) noexcept;

/// RunMetadataInput / RunMetadata (meta.json adds layoutVersion).
struct RunMetadata {
  std::string taskId;
  std::string stepId;
  std::string stepName;
  std::string runId;
  std::string workerKind;
  std::int64_t attempt = 1;
  std::string repoRoot;
  std::string worktreePath;
  std::string createdAt;  ///< ISO-8601 UTC with milliseconds; empty = now
  std::string checkpointMode;
  std::optional<std::string> promptSummary;
  std::optional<std::string> command;
};

/// RunStateSnapshot (state.json).
struct RunStateSnapshot {
  RunStatus status = RunStatus::prepared;
  std::int64_t attempt = 1;
  std::string startedAt;
  std::string updatedAt;
  std::optional<std::string> finishedAt;
  std::uint64_t lastEventSeq = 0;
  std::uint64_t checkpointSeq = 0;
  std::optional<std::string> summary;
  std::optional<std::int64_t> exitCode;
};

/// RunStatePatch: each field present is applied.
struct RunStatePatch {
  std::optional<RunStatus> status;
  std::optional<std::string> updatedAt;
  std::optional<std::string> finishedAt;
  std::optional<std::uint64_t> lastEventSeq;
  std::optional<std::uint64_t> checkpointSeq;
  std::optional<std::string> summary;
  std::optional<std::int64_t> exitCode;
};

/// WorkerLifecycleEventInput.
struct LifecycleEvent {
  EventType type = EventType::step_prepared;
  LogLevel level = LogLevel::info;
  std::string message;
  /// A JSON object (StructuredData) or empty for {}. Validated and minified at push.
  std::string dataJson;
};

/// LocalRunLogSummary.
struct LocalRunLogSummary {
  std::uint64_t totalEntries = 0;
  std::uint64_t lastSeq = 0;
  std::uint64_t lifecycleEventCount = 0;
  std::uint64_t stdoutChunkCount = 0;
  std::uint64_t stderrChunkCount = 0;
};

}  // namespace runlog
