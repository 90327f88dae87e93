#include "runlog/types.h"

#include <array>

namespace runlog {
namespace {

template <class E, std::size_t N>
std::optional<E> parse_in(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == s) return static_cast<E>(i);
  return std::nullopt;
}

constexpr std::array<std::string_view, 3> kChannels = {"worker", "stdout", "stderr"};
constexpr std::array<std::string_view, 3> kChannelFiles = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
constexpr std::array<std::string_view, 4> kLevels = {"debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 5> kStatuses = {"prepared", "running", "completed", "failed", "blocked"};
constexpr std::array<std::string_view, 9> kEventTypes = {
    "run_prepared",  "checkpoint_slot_reserved", "worker_started", "worker_execution_deferred",
    "worker_exited", "step_prepared",            "step_completed", "step_failed",
    "step_blocked"};

}  // namespace

std::string_view channel_name(Channel c) noexcept { return kChannels[static_cast<int>(c)]; }
std::string_view channel_file_name(Channel c) noexcept { return kChannelFiles[static_cast<int>(c)]; }
std::string_view level_name(LogLevel l) noexcept { return kLevels[static_cast<int>(l)]; }
std::optional<LogLevel> parse_level(std::string_view s) noexcept { return parse_in<LogLevel>(kLevels, s); }
std::string_view status_name(RunStatus s) noexcept { return kStatuses[static_cast<int>(s)]; }
std::optional<RunStatus> parse_status(std::string_view s) noexcept { return parse_in<RunStatus>(kStatuses, s); }
std::string_view event_type_name(EventType t) noexcept { return kEventTypes[static_cast<int>(t)]; }
std::optional<EventType> parse_event_type(std::string_view s) noexcept {
  return parse_in<EventType>(kEventTypes, s);
}

}  // namespace runlog
