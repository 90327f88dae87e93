// tests/core/status_test.cpp — Status and Result as values: a Result made
// from an ok Status is an error, never a Result without a value.
#include <gtest/gtest.h>

#include <string>

#include "runlog/status.h"

namespace runlog {
namespace {

Result<std::string> Forgetful() { return Status::OK(); }  // a caller's slip: no value given

TEST(ResultTest, MadeFromAnOkStatusItIsAnError) {
  Result<std::string> r = Forgetful();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  EXPECT_NE(r.status().message().find("without a value"), std::string::npos) << r.status().to_string();
  std::string out = "untouched";
  EXPECT_FALSE(std::move(r).get(out).ok());
  EXPECT_EQ(out, "untouched");
}

TEST(ResultTest, AnErrorAndAValueAreKeptAsGiven) {
  Result<int> e = Status::FromErrno(ENOENT, "open x");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Errc::not_found);
  EXPECT_EQ(e.status().sys_errno(), ENOENT);
  Result<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.value(), 7);
}

}  // namespace
}  // namespace runlog
