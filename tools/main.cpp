// tools/main.cpp — the `runlog` command-line tool: dispatch to the
// subcommands that registered themselves (tools/cmd_*.cpp). Exit status: 0
// success, 1 failure or a check that found problems, 2 bad usage.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/crc32c.h"
#include "tools/command.h"

namespace runlog::tools {
namespace {

constexpr const char* kVersion = "0.1.0";

std::vector<Command>& registry() {
  static std::vector<Command> all;
  return all;
}

void print_help(std::FILE* out) {
  fmt::print(out, "runlog — durable, group-committed logs for multi-worker job runners\n\n");
  fmt::print(out, "Usage: runlog <command> [options]\n\nCommands:\n");
  for (const Command& c : commands()) fmt::print(out, "  {:<10}{}\n", c.name, c.summary);
  fmt::print(out,
             "\nOptions:\n"
             "  -h, --help     this help; `runlog <command> --help` for a command's own\n"
             "  --version      the version\n\n"
             "Exit status: 0 success, 1 failure or problems found, 2 bad usage.\n");
}

}  // namespace

bool register_command(const Command& command) {
  registry().push_back(command);
  return true;
}

std::vector<Command> commands() {
  std::vector<Command> all = registry();
  std::sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  return all;
}

}  // namespace runlog::tools

int main(int argc, char** argv) {
  using namespace runlog::tools;
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    print_help(stdout);
    return 0;
  }
  if (cmd == "--version") {
    fmt::print("runlog {} (crc32c: {})\n", kVersion, runlog::crc32c_is_hardware() ? "sse4.2" : "table");
    return 0;
  }
  for (const Command& c : commands()) {
    if (cmd == c.name) {
      Args args(argc - 2, argv + 2);
      return c.run(args);
    }
  }
  return usage_error("", fmt::format("unknown command '{}'", cmd));
}
