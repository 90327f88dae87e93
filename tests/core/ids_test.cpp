// Tests for core/ids: id validation (SPEC invariant 6), its error message, and
// random version-4 UUIDs.
#include "core/ids.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace runlog {
namespace {

TEST(Ids, ValidIds) {
  const std::string valid[] = {
      "a", "Z", "0", "_", "run-1", "task_2.json", "A.b-c_d", "_.", "0..", "a-", "x.y.z", "9-9", "_hidden",
      std::string(128, 'a'), "a" + std::string(127, '-'), "b" + std::string(127, '.'),
  };
  for (const std::string& id : valid) {
    EXPECT_TRUE(is_valid_id(id)) << id;
    EXPECT_TRUE(validate_id("taskId", id).ok()) << id;
  }
}

TEST(Ids, InvalidIds) {
  const std::string invalid[] = {
      "",
      ".",
      "..",
      ".a",
      "-a",
      "a/b",
      "../x",
      "/abs",
      "a\\b",
      "a b",
      " a",
      "a ",
      std::string(129, 'a'),
      std::string("\0", 1),
      std::string("a\0", 2),
      "a\n",
      "\t",
      "caf\xc3\xa9",  // é
      "\xe2\x80\xae",  // RIGHT-TO-LEFT OVERRIDE
      "a:b",
      "a*",
      "a?",
      "~",
      "a+b",
      "a@b",
      "a%2e",
      "\x7f",
      "a\xff",
  };
  for (const std::string& id : invalid) {
    EXPECT_FALSE(is_valid_id(id)) << testing::PrintToString(id);
    const Status st = validate_id("runId", id);
    EXPECT_FALSE(st.ok()) << testing::PrintToString(id);
    EXPECT_EQ(st.code(), Errc::invalid_argument);
  }
}

TEST(Ids, EveryByteAsFirstAndLaterCharacter) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool alnum = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
    EXPECT_EQ(is_valid_id(std::string(1, c)), alnum || b == '_') << b;
    EXPECT_EQ(is_valid_id(std::string("a") + c), alnum || b == '_' || b == '.' || b == '-') << b;
  }
}

TEST(Ids, MessageFormat) {
  EXPECT_EQ(validate_id("taskId", "../x").message(),
            "invalid taskId \"../x\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  EXPECT_EQ(validate_id("taskId", "../x").to_string(),
            "invalid_argument: invalid taskId \"../x\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  EXPECT_EQ(validate_id("runId", "").message(), "invalid runId \"\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  // Non-printable bytes (and the quote and backslash) as \xNN.
  EXPECT_EQ(validate_id("runId", std::string("a\0b\n", 4)).message(),
            "invalid runId \"a\\x00b\\x0a\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  EXPECT_EQ(validate_id("stepId", "caf\xc3\xa9 \x7f").message(),
            "invalid stepId \"caf\\xc3\\xa9 \\x7f\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  EXPECT_EQ(validate_id("conversationId", "a\"b\\c").message(),
            "invalid conversationId \"a\\x22b\\x5cc\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  EXPECT_TRUE(validate_id("taskId", "ok").message().empty());
}

bool is_uuid_v4(const std::string& u) {
  if (u.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    const char c = u[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return u[14] == '4' && (u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
}

TEST(Ids, UuidFormat) {
  char buf[37];
  buf[36] = '#';
  random_uuid(buf);
  EXPECT_EQ(buf[36], '#') << "wrote past 36 bytes";
  EXPECT_TRUE(is_uuid_v4(std::string(buf, 36))) << std::string(buf, 36);
  EXPECT_FALSE(is_uuid_v4("8f14e45f-ceea-367a-9a36-dedd4bea2543"));  // the checker can say no
  // Every free hex digit takes many values; the variant digit all four.
  std::vector<std::set<char>> seen(36);
  for (int i = 0; i < 2000; ++i) {
    const std::string u = random_uuid();
    ASSERT_TRUE(is_uuid_v4(u)) << u;
    for (std::size_t k = 0; k < 36; ++k) seen[k].insert(u[k]);
  }
  for (std::size_t k = 0; k < 36; ++k) {
    if (k == 8 || k == 13 || k == 18 || k == 23 || k == 14) {
      EXPECT_EQ(seen[k].size(), 1u) << k;
    } else if (k == 19) {
      EXPECT_EQ(seen[k].size(), 4u);
    } else {
      EXPECT_EQ(seen[k].size(), 16u) << k;
    }
  }
}

TEST(Ids, UuidsUniqueAcrossThreads) {
  constexpr int kThreads = 4, kPerThread = 2500;
  std::vector<std::vector<std::string>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&got, t] {
      for (int i = 0; i < kPerThread; ++i) got[static_cast<std::size_t>(t)].push_back(random_uuid());
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : got)
    for (const auto& u : v) {
      ASSERT_TRUE(is_uuid_v4(u)) << u;
      all.insert(u);
    }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

// A forked child must not repeat the parent's sequence.
TEST(Ids, UuidsDifferAfterFork) {
  (void)random_uuid();  // make sure this thread's generator is seeded before the fork
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char buf[36];
    random_uuid(buf);
    const ssize_t w = write(fds[1], buf, 36);
    _exit(w == 36 ? 0 : 1);
  }
  close(fds[1]);
  const std::string mine = random_uuid();
  char buf[36];
  ssize_t got = 0;
  while (got < 36) {
    const ssize_t r = read(fds[0], buf + got, static_cast<std::size_t>(36 - got));
    if (r <= 0) break;
    got += r;
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(got, 36);
  const std::string child(buf, 36);
  EXPECT_TRUE(is_uuid_v4(child)) << child;
  EXPECT_NE(child, mine);
}

}  // namespace
}  // namespace runlog
