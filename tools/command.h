// tools/command.h — how a subcommand joins the `runlog` tool: each lives in its
// own tools/cmd_<name>.cpp and registers itself with RUNLOG_COMMAND, so main.cpp
// never changes when one is added.
#pragma once

#include <vector>

#include "tools/args.h"

namespace runlog::tools {

struct Command {
  const char* name;     ///< "demo"
  const char* summary;  ///< one line for `runlog --help`
  int (*run)(Args& args);  ///< exit status: 0 ok, 1 failure or problems found, 2 bad usage
  int order;            ///< position in `runlog --help`
};

/// Registers a command (at static-initialization time).
bool register_command(const Command& command);
/// All registered commands, in `order`.
std::vector<Command> commands();

}  // namespace runlog::tools

#define RUNLOG_COMMAND(name, summary, fn, order) \
  static const bool runlog_registered_##fn = ::runlog::tools::register_command({name, summary, &fn, order})
