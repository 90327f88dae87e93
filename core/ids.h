// core/ids.h — the ids that name folders (SPEC invariant 6) and event ids.
#pragma once

#include <string>
#include <string_view>

#include "runlog/status.h"

namespace runlog {

/// Whether `id` matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool is_valid_id(std::string_view id) noexcept;
/// ok, or invalid_argument: `invalid taskId "../x": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
/// (non-printable bytes of the id shown as \xNN). `what` names the field.
/// The quote and the backslash are shown as \x22 and \x5c too, so the quoted id is unambiguous.
Status validate_id(std::string_view what, std::string_view id);

/// A random RFC 4122 version-4 UUID in lowercase ("8-4-4-4-12", 36 bytes),
/// from a per-thread generator seeded by getrandom(). Thread-safe.
void random_uuid(char* out36) noexcept;
std::string random_uuid();

}  // namespace runlog
