// tools/main.cpp — the `runlog` command-line tool: every subcommand that
// registered itself (tools/cmd_*.cpp, see tools/command.h) gets a CLI11
// subcommand; the one chosen runs. Exit status: tools/command.h.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "core/crc32c.h"
#include "tools/command.h"

#ifndef RUNLOG_VERSION
#error "RUNLOG_VERSION comes from CMake's project(VERSION)"
#endif

namespace runlog::tools {
namespace {

// "runlog exec" for a subcommand, "runlog" for the tool itself.
std::string program(const CLI::App* app) {
  std::string name;
  for (; app != nullptr; app = app->get_parent()) name = name.empty() ? app->get_name() : app->get_name() + " " + name;
  return name;
}

// The innermost subcommand the command line reached (the tool itself when none).
const CLI::App* innermost(const CLI::App& app) {
  const CLI::App* at = &app;
  for (;;) {
    auto subs = at->get_subcommands();
    if (subs.empty()) return at;
    at = subs.back();
  }
}

// CLI11's help with "runlog <cmd> — <summary>" as a command's first line.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_description(const CLI::App* app) const override {
    if (app->get_parent() == nullptr) return CLI::Formatter::make_description(app);
    return program(app) + " — " + app->get_description() + "\n\n";
  }
};

// The help of `app` (a command's own when it is one).
std::string help_of(const CLI::App* app) {
  return app->get_parent() == nullptr ? app->help() : app->help(program(app->get_parent()));
}

}  // namespace

}  // namespace runlog::tools

int main(int argc, char** argv) {
  using namespace runlog::tools;
  CLI::App app("runlog — durable, group-committed logs for multi-worker job runners", "runlog");
  app.set_help_flag("-h,--help", "this help; `runlog <command> --help` for a command's own");
  app.set_version_flag("--version", fmt::format("runlog {} (crc32c: {})", RUNLOG_VERSION,
                                                runlog::crc32c_is_hardware() ? "sse4.2" : "table"),
                       "the version");
  app.require_subcommand(1);
  app.footer(exit_status_footer("success", "the work failed or problems were found") +
             "\n`runlog exec` exits with its worker's status instead.");
  auto formatter = std::make_shared<HelpFormatter>();
  formatter->column_width(28);
  formatter->label("SUBCOMMAND", "COMMAND");
  app.formatter(formatter);

  std::map<const CLI::App*, Runner> runners;
  for (const Command& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    sub->group("Commands");
    sub->set_help_flag("-h,--help", "this help");
    runners[sub] = c.setup(*sub);
  }
  if (argc < 2) {
    fmt::print(stderr, "{}", app.help());
    return kExitUsage;
  }
  if (argv[1][0] != '-') {
    const auto all = commands();
    if (std::none_of(all.begin(), all.end(), [&](const Command& c) { return std::string_view(argv[1]) == c.name; }))
      return usage_error("", fmt::format("unknown command '{}'", argv[1]));
  }
  if (std::string_view(argv[1]) == "help") {  // `runlog help`, as `runlog --help`
    fmt::print("{}", app.help());
    return kExitOk;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", help_of(innermost(app)));
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    fmt::print("{}", app.help("", CLI::AppFormatMode::All));
    return kExitOk;
  } catch (const CLI::CallForVersion& v) {
    fmt::print("{}\n", v.what());
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    const CLI::App* at = innermost(app);
    std::string prog = program(at);
    fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", prog, e.what(), prog);
    return kExitUsage;
  }
  return runners.at(app.get_subcommands().front())();
}
