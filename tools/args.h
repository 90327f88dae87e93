// tools/args.h — a small argument parser for the subcommands: options as
// "--name value" or "--name=value", flags as "--name", everything after "--"
// and every non-option is positional. Each accessor takes what it reads, so
// rest() is what nobody asked for.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace runlog::tools {

class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 0; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i) positional_.push_back(argv[i]);
        break;
      }
      items_.push_back({std::move(a), false});
    }
  }

  bool flag(const std::string& name) {
    for (auto& it : items_)
      if (!it.used && it.text == name) return it.used = true;
    return false;
  }

  /// All values of a repeatable option.
  std::vector<std::string> values(const std::string& name) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < items_.size(); ++i) {
      Item& it = items_[i];
      if (it.used) continue;
      if (it.text == name) {
        it.used = true;
        if (i + 1 >= items_.size()) {
          fail(fmt::format("{} needs a value", name));
          return out;
        }
        items_[i + 1].used = true;
        out.push_back(items_[++i].text);
      } else if (it.text.rfind(name + "=", 0) == 0) {
        it.used = true;
        out.push_back(it.text.substr(name.size() + 1));
      }
    }
    return out;
  }

  std::optional<std::string> value(const std::string& name) {
    auto v = values(name);
    if (v.size() > 1) fail(fmt::format("{} given more than once", name));
    if (v.empty()) return std::nullopt;
    return v.back();
  }

  std::optional<std::uint64_t> number(const std::string& name) {
    auto v = value(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno != 0 || (*v)[0] == '-') {
      fail(fmt::format("{} takes a whole number, not '{}'", name, *v));
      return std::nullopt;
    }
    return n;
  }

  std::optional<double> real(const std::string& name) {
    auto v = value(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !(d > 0)) {
      fail(fmt::format("{} takes a positive number, not '{}'", name, *v));
      return std::nullopt;
    }
    return d;
  }

  /// Unused arguments (an unknown option shows up here), then the positionals after "--".
  std::vector<std::string> rest() const {
    std::vector<std::string> out;
    for (auto& it : items_)
      if (!it.used) out.push_back(it.text);
    out.insert(out.end(), positional_.begin(), positional_.end());
    return out;
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  struct Item {
    std::string text;
    bool used;
  };
  void fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
  }
  std::vector<Item> items_;
  std::vector<std::string> positional_;
  std::string error_;
};

/// Prints "runlog <cmd>: <msg>" and a pointer to --help on stderr; returns 2.
inline int usage_error(const std::string& cmd, const std::string& msg) {
  std::string prog = cmd.empty() ? "runlog" : "runlog " + cmd;
  fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", prog, msg, prog);
  return 2;
}

}  // namespace runlog::tools
