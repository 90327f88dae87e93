// tests/tools/child_helper.cpp — a worker process with known output, for the
// tests of `runlog exec` / `runlog run` and the pass-through benchmark.
//
//   runlog_child_helper STEP [ARG] [STEP [ARG]]...      steps run in order:
//     out TEXT | err TEXT        write TEXT to stdout / stderr (one write)
//     outhex HEX | errhex HEX    write the bytes HEX to stdout / stderr (one write)
//     sleep MS                   pause
//     interleave N               N times: "o<i>\n" to stdout, then "e<i>\n" to stderr
//     tiny N                     N one-byte writes to stdout ('a'..'z', '\n' every 64)
//     burst MIB                  MIB MiB of text lines to stdout in 64 KiB writes
//     bigline MIB                one line of MIB MiB ('a'..'z', then one '\n') in 1 MiB writes
//     flood MIB                  as burst, as fast as it can; then its own seconds on stderr
//     fds                        the open descriptors, "0 1 2\n" (its own listing excluded)
//     wait-term                  ignore SIGTERM: print "ready\n", wait for it, pause 100 ms,
//                                print "bye after SIGTERM\n"
//     ignore-int                 from here on, SIGINT only prints "int\n"
//     wait                       print "ready\n", then wait for any signal that ends it
//     raise SIG                  raise signal number SIG (default action)
//     exit N                     exit with N (default at the end: 0)
// The patterns are the ones the tests rebuild (see exec_test.cpp).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

volatile sig_atomic_t g_term = 0;
void on_term(int) { g_term = 1; }
void on_int(int) { (void)!::write(1, "int\n", 4); }

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n <= 0) std::_Exit(100);
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// The text of burst/flood: lines "line <n> " padded with letters to 100 bytes.
void text_lines(std::size_t total, std::size_t write_size) {
  std::string block;
  std::uint64_t n = 0;
  std::size_t sent = 0;
  while (sent < total) {
    block.clear();
    while (block.size() < write_size) {
      std::string line = "line " + std::to_string(n++) + " ";
      while (line.size() < 99) line += static_cast<char>('a' + line.size() % 26);
      line += '\n';
      block += line;
    }
    block.resize(std::min(write_size, total - sent));
    write_all(1, block);
    sent += block.size();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  auto arg = [&](std::size_t i) -> std::string {
    if (i >= a.size()) {
      std::fprintf(stderr, "child_helper: %s needs an argument\n", a[i - 1].c_str());
      std::_Exit(99);
    }
    return a[i];
  };
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string& s = a[i];
    if (s == "out") write_all(1, arg(++i));
    else if (s == "err") write_all(2, arg(++i));
    else if (s == "outhex") write_all(1, from_hex(arg(++i)));
    else if (s == "errhex") write_all(2, from_hex(arg(++i)));
    else if (s == "sleep") std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(arg(++i))));
    else if (s == "interleave") {
      int n = std::stoi(arg(++i));
      for (int k = 0; k < n; ++k) {
        write_all(1, "o" + std::to_string(k) + "\n");
        write_all(2, "e" + std::to_string(k) + "\n");
      }
    } else if (s == "tiny") {
      int n = std::stoi(arg(++i));
      for (int k = 0; k < n; ++k) {
        char c = (k % 64 == 63) ? '\n' : static_cast<char>('a' + k % 26);
        write_all(1, std::string_view(&c, 1));
      }
    } else if (s == "burst") {
      text_lines(static_cast<std::size_t>(std::stoul(arg(++i))) << 20, 64 << 10);
    } else if (s == "flood") {
      auto t0 = std::chrono::steady_clock::now();
      text_lines(static_cast<std::size_t>(std::stoul(arg(++i))) << 20, 64 << 10);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "flood-seconds %.6f\n", secs);
    } else if (s == "bigline") {
      std::size_t total = static_cast<std::size_t>(std::stoul(arg(++i))) << 20;
      std::string block(1 << 20, 'x');
      for (std::size_t k = 0; k < block.size(); ++k) block[k] = static_cast<char>('a' + k % 26);
      for (std::size_t sent = 0; sent < total; sent += block.size()) write_all(1, block);
      write_all(1, "\n");
    } else if (s == "fds") {
      DIR* d = ::opendir("/proc/self/fd");
      if (d == nullptr) return 98;
      std::vector<int> fds;
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int fd = std::atoi(e->d_name);
        if (fd != ::dirfd(d)) fds.push_back(fd);
      }
      ::closedir(d);
      std::sort(fds.begin(), fds.end());
      std::string line;
      for (int fd : fds) line += (line.empty() ? "" : " ") + std::to_string(fd);
      write_all(1, line + "\n");
    } else if (s == "wait-term") {
      struct sigaction sa {};
      sa.sa_handler = on_term;
      ::sigaction(SIGTERM, &sa, nullptr);
      // SIGTERM stays blocked except inside sigsuspend: a SIGTERM between the
      // test of g_term and a pause() would leave the helper waiting forever.
      sigset_t term, before;
      sigemptyset(&term);
      sigaddset(&term, SIGTERM);
      ::sigprocmask(SIG_BLOCK, &term, &before);
      write_all(1, "ready\n");
      while (!g_term) ::sigsuspend(&before);
      ::sigprocmask(SIG_SETMASK, &before, nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      write_all(1, "bye after SIGTERM\n");
    } else if (s == "ignore-int") {
      struct sigaction sa {};
      sa.sa_handler = on_int;
      ::sigaction(SIGINT, &sa, nullptr);
    } else if (s == "wait") {
      write_all(1, "ready\n");
      for (;;) ::pause();
    } else if (s == "raise") {
      ::raise(std::stoi(arg(++i)));
    } else if (s == "exit") {
      return std::stoi(arg(++i));
    } else {
      std::fprintf(stderr, "child_helper: unknown step '%s'\n", s.c_str());
      return 99;
    }
  }
  return 0;
}
