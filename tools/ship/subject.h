// tools/ship/subject.h — how runlog's streams are named in NATS JetStream
// (docs/ship.md): subjects, message ids and the encoding of ids in subject
// tokens.
//
// Threads: pure functions, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runlog/types.h"

namespace runlog::ship {

/// An id as a subject token: every byte outside [A-Za-z0-9_-] (in a runlog id
/// that is only '.') becomes "%XX" (upper-case hex). Injective: ids have no '%'.
std::string encode_token(std::string_view id);
/// The inverse; nullopt when `token` is not an encoding of an id.
std::optional<std::string> decode_token(std::string_view token);

/// "runlog.run.<task>.<run>.<channel>"
std::string run_subject(std::string_view task_id, std::string_view run_id, Channel channel);
/// "runlog.run.<task>.<run>.*": every channel of one run.
std::string run_subject_wildcard(std::string_view task_id, std::string_view run_id);
/// "runlog.run.<task>.<run>.end": the run's end marker (sent once it is
/// finished and every record is shipped; data: its state.json).
std::string run_subject_end(std::string_view task_id, std::string_view run_id);
/// "runlog.conv.<id>"
std::string conv_subject(std::string_view conversation_id);
/// "run/<task>/<run>/<seq>" and "conv/<id>/<seq>": the Nats-Msg-Id header.
std::string run_msg_id(std::string_view task_id, std::string_view run_id, std::uint64_t seq);
std::string conv_msg_id(std::string_view conversation_id, std::uint64_t seq);

inline constexpr const char* kSubjects = "runlog.>";
inline constexpr const char* kSeqHeader = "Runlog-Seq";
inline constexpr const char* kMsgIdHeader = "Nats-Msg-Id";

}  // namespace runlog::ship
