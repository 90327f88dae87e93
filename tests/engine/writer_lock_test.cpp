// tests/engine/writer_lock_test.cpp — a run or a conversation that another
// writer holds is refused, and the message names what it is.
#include <gtest/gtest.h>

#include <string>

#include "runlog/engine.h"
#include "support/engine_fixture.h"

namespace runlog::testing {
namespace {

class WriterLockTest : public EngineTestBase {};

TEST_F(WriterLockTest, TheRefusalNamesARunOrAConversation) {
  Options o = MakeOptions();
  o.conversationsRoot = tmp() + "/convs";
  auto first = OpenEngine(o);
  auto second = OpenEngine(o);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  runlog::Run held = OpenRun(*first, "t", "r");
  auto run = second->open_run(Meta("t", "r"));
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), Errc::refused);
  EXPECT_NE(run.status().message().find("the run is open in another writer"), std::string::npos)
      << run.status().to_string();

  auto conv = first->open_conversation("c");
  ASSERT_TRUE(conv.ok()) << conv.status().to_string();
  auto again = second->open_conversation("c");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Errc::refused);
  EXPECT_NE(again.status().message().find("the conversation is open in another writer"), std::string::npos)
      << again.status().to_string();
  EXPECT_EQ(again.status().message().find("the run is"), std::string::npos) << again.status().to_string();

  ASSERT_TRUE(conv.value().close().ok());
  ASSERT_TRUE(held.close().ok());
}

}  // namespace
}  // namespace runlog::testing
