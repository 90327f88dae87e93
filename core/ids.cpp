// core/ids.cpp — id validation and random UUIDs.
//
// random_uuid draws from a per-thread xoshiro256** generator seeded with 32
// bytes from getrandom(). A child process after fork() would otherwise repeat
// its parent's sequence, so a pthread_atfork handler bumps a generation number
// and every thread reseeds when it sees a new one.
#include "ids.h"

#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace runlog {
namespace {

constexpr std::string_view kIdPattern = "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}";
constexpr std::size_t kMaxIdLength = 128;

constexpr bool is_first_char(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}
constexpr bool is_other_char(unsigned char c) noexcept { return is_first_char(c) || c == '.' || c == '-'; }

// ---- random ----

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

std::uint64_t splitmix64(std::uint64_t& s) noexcept {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::atomic<std::uint64_t> g_fork_generation{0};

void on_fork_child() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

void register_fork_handler() noexcept {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, &on_fork_child);
    return true;
  }();
  (void)registered;
}

struct Xoshiro256 {
  std::uint64_t s[4] = {0, 0, 0, 0};
  std::uint64_t generation = ~std::uint64_t{0};  // not seeded yet

  void seed() noexcept {
    std::uint64_t seed_words[4] = {0, 0, 0, 0};
    auto* buf = reinterpret_cast<unsigned char*>(seed_words);
    std::size_t got = 0;
    while (got < sizeof seed_words) {
      const ssize_t r = getrandom(buf + got, sizeof seed_words - got, 0);
      if (r > 0) {
        got += static_cast<std::size_t>(r);
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else {
        break;  // no getrandom (very old kernel, seccomp): fall back below
      }
    }
    // Mix in what differs between threads and processes anyway, through
    // splitmix64, so that even a failed getrandom gives distinct streams.
    struct timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    std::uint64_t mix = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
    mix ^= static_cast<std::uint64_t>(getpid()) << 32;
    mix ^= reinterpret_cast<std::uintptr_t>(this);
    for (int i = 0; i < 4; ++i) s[i] = seed_words[i] ^ (got < sizeof seed_words ? splitmix64(mix) : 0);
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;  // the all-zero state is a fixed point
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

Xoshiro256& thread_rng() noexcept {
  thread_local Xoshiro256 rng;
  const std::uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (rng.generation != gen) {
    register_fork_handler();
    rng.seed();
    rng.generation = gen;
  }
  return rng;
}

}  // namespace

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  if (!is_first_char(static_cast<unsigned char>(id[0]))) return false;
  for (std::size_t i = 1; i < id.size(); ++i)
    if (!is_other_char(static_cast<unsigned char>(id[i]))) return false;
  return true;
}

Status validate_id(std::string_view what, std::string_view id) {
  if (is_valid_id(id)) return Status::OK();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string msg;
  msg.reserve(what.size() + id.size() + kIdPattern.size() + 32);
  msg += "invalid ";
  msg += what;
  msg += " \"";
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    // Printable ASCII as is, except the quote and backslash that would make the
    // quoted id ambiguous; everything else as \xNN.
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      msg += ch;
    } else {
      msg += "\\x";
      msg += kHex[c >> 4];
      msg += kHex[c & 15];
    }
  }
  msg += "\": must match ";
  msg += kIdPattern;
  return Status::Invalid(std::move(msg));
}

void random_uuid(char* out36) noexcept {
  Xoshiro256& rng = thread_rng();
  std::uint64_t hi = rng.next();
  std::uint64_t lo = rng.next();
  hi = (hi & ~0x000000000000F000ull) | 0x0000000000004000ull;  // version 4 (time_hi_and_version)
  lo = (lo & ~0xC000000000000000ull) | 0x8000000000000000ull;  // variant 10xx (clock_seq_hi)
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  char* w = out36;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *w++ = '-';
    *w++ = kHex[bytes[i] >> 4];
    *w++ = kHex[bytes[i] & 15];
  }
}

std::string random_uuid() {
  std::string s(36, '\0');
  random_uuid(s.data());
  return s;
}

}  // namespace runlog
