// tools/command.cpp — the registry of subcommands and what their setup
// functions share (tools/command.h). Main thread only.
#include "tools/command.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace runlog::tools {
namespace {

std::vector<Command>& registry() {
  static std::vector<Command> all;
  return all;
}

}  // namespace

bool register_command(const Command& command) {
  registry().push_back(command);
  return true;
}

std::vector<Command> commands() {
  std::vector<Command> all = registry();
  std::stable_sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.order < b.order; });
  return all;
}

int usage_error(const std::string& cmd, const std::string& msg) {
  const std::string prog = cmd.empty() ? "runlog" : "runlog " + cmd;
  fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", prog, msg, prog);
  return kExitUsage;
}

std::string exit_status_footer(const std::string& ok, const std::string& failed) {
  const std::string text = fmt::format(
      "Exit status: 0 {}, 1 {}, 2 bad usage (an unknown option, a bad value, a path that does not exist; "
      "nothing done).",
      ok, failed);
  // Wrapped at 80 columns, as the rest of the help.
  std::string out, line, word;
  std::istringstream words(text);
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > 80) {
      out += line + '\n';
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

const CLI::Validator& existing_path() {
  static const CLI::Validator check(
      [](std::string& path) -> std::string {
        struct stat st {};
        if (path == "-" || ::stat(path.c_str(), &st) == 0) return {};
        return fmt::format("{}: {}", path, std::strerror(errno));
      },
      "");
  return check;
}

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& s) -> std::string {
        errno = 0;
        char* end = nullptr;
        const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || errno != 0 || *end != '\0')
          return fmt::format("takes a whole number, not '{}'", s);
        if (n < min || n > max)
          return max == UINT64_MAX ? fmt::format("takes a whole number from {}, not {}", min, s)
                                   : fmt::format("takes a whole number from {} to {}, not {}", min, max, s);
        return {};
      },
      "");
}

CLI::Option* add_durability_option(CLI::App& app, std::string& durability) {
  return app.add_option("--durability", durability,
                        "batch: acknowledged once fdatasync-ed, group commit\n"
                        "none: acknowledged once written to the OS")
      ->type_name("MODE")
      ->check(CLI::IsMember({"batch", "none"}))
      ->capture_default_str();
}

}  // namespace runlog::tools
