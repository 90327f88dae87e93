// tools/command.h — how a subcommand joins the `runlog` tool.
//
// Each subcommand lives in its own tools/cmd_<name>.cpp and registers itself
// there; main.cpp never changes when one is added. The command line is parsed
// by CLI11, and the help is generated from the declarations, so every option is
// declared once, with its help text:
//
//   namespace runlog::tools {
//   namespace {
//   struct HelloOptions {
//     std::string root = "runs";
//     bool loud = false;
//   };
//   int run_hello(const HelloOptions& o) { ...; return kExitOk; }
//
//   Runner setup_hello(CLI::App& app) {           // `app` is the subcommand
//     auto o = std::make_shared<HelloOptions>();
//     app.add_option("--runs-root", o->root, "where run folders go")->type_name("DIR")->capture_default_str();
//     app.add_flag("--loud", o->loud, "say it louder");
//     app.footer("Longer prose: output format, ...\n\n" + exit_status_footer("hello printed"));
//     return [o] { return run_hello(*o); };       // runs after a successful parse
//   }
//   }  // namespace
//   RUNLOG_COMMAND("hello", "one line for `runlog --help`", setup_hello, 60);
//   }  // namespace runlog::tools
//
// main.cpp calls every setup function on its own CLI::App subcommand before
// parsing, then runs the one chosen. CLI11 handles -h/--help (exit 0) and every
// parse error (unknown option, missing or ill-typed value, a failed check such
// as CLI::ExistingPath): "runlog <cmd>: <what>" and a pointer to --help on
// stderr, exit 2. A check that needs more than one option goes in the runner
// and returns usage_error(). Exit statuses: the table below (docs: README,
// "Exit status"); `exec` alone passes its child's status through. A new
// command adds its cases (ok, failed, bad usage) to
// tests/tools/exit_status_test.cpp, which fails for a command without them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace runlog::tools {

/// The exit status of every subcommand.
inline constexpr int kExitOk = 0;      ///< success, no problems found
inline constexpr int kExitFailed = 1;  ///< the work failed, or problems were found
inline constexpr int kExitUsage = 2;   ///< bad usage (a path that does not exist included); nothing done

/// Runs the subcommand once its options are parsed; returns the exit status.
/// Called on the main thread, once.
using Runner = std::function<int()>;

struct Command {
  const char* name;              ///< "demo"
  const char* summary;           ///< one line for `runlog --help`
  Runner (*setup)(CLI::App& app);  ///< declares the options on `app`, returns what runs the command
  int order;                     ///< position in `runlog --help`
};

/// Registers a command (at static-initialization time).
bool register_command(const Command& command);
/// All registered commands, in `order`.
std::vector<Command> commands();

/// Prints "runlog <cmd>: <msg>" and a pointer to --help on stderr; returns kExitUsage.
int usage_error(const std::string& cmd, const std::string& msg);

/// The common end of every help text: "Exit status: 0 <ok>, 1 <failed>, 2 bad
/// usage (...)". `ok` and `failed` say what 0 and 1 mean for this command.
std::string exit_status_footer(const std::string& ok, const std::string& failed);

/// A check for a path argument that must exist (a file or a folder; "-" for
/// stdin passes); its failure is bad usage like any other parse error.
const CLI::Validator& existing_path();

/// A check for a whole number in min..=max, in decimal digits ("-1", "1.5", "x"
/// and numbers past 2^64 fail; CLI11 alone would turn "-1" into 2^64 - 1).
CLI::Validator whole_number(std::uint64_t min = 0, std::uint64_t max = UINT64_MAX);

/// --durability batch|none (default: what `durability` holds).
CLI::Option* add_durability_option(CLI::App& app, std::string& durability);

}  // namespace runlog::tools

#define RUNLOG_COMMAND(name, summary, setup, order) \
  static const bool runlog_registered_##setup = ::runlog::tools::register_command({name, summary, &setup, order})
