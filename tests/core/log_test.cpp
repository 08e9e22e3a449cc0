#include "core/log.h"

#include <gtest/gtest.h>

namespace flywheel {
namespace {

TEST(Log, ParsesLevelNames) {
  EXPECT_EQ(*parse_log_level("trace"), spdlog::level::trace);
  EXPECT_EQ(*parse_log_level("debug"), spdlog::level::debug);
  EXPECT_EQ(*parse_log_level("INFO"), spdlog::level::info);
  EXPECT_EQ(*parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(*parse_log_level("warning"), spdlog::level::warn);
  EXPECT_EQ(*parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(*parse_log_level("off"), spdlog::level::off);
}

TEST(Log, UnknownLevelIsAClearErrorAndKeepsTheLevel) {
  ASSERT_TRUE(set_log_level("warn").is_ok());
  Status status = set_log_level("verbose");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'verbose'"), std::string::npos);
  EXPECT_NE(status.message().find("trace|debug|info|warn|error|off"), std::string::npos);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
}

TEST(Log, WritesToStderrOnlyAtOrAboveTheLevel) {
  ASSERT_TRUE(init_logging("info").is_ok());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  spdlog::debug("hidden message");
  spdlog::info("shown {}", 42);
  spdlog::default_logger()->flush();
  std::string err = testing::internal::GetCapturedStderr();
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("shown 42"), std::string::npos) << err;
  EXPECT_NE(err.find("info"), std::string::npos) << err;
  EXPECT_EQ(err.find("hidden"), std::string::npos) << err;
  ASSERT_TRUE(set_log_level("off").is_ok());
}

}  // namespace
}  // namespace flywheel
