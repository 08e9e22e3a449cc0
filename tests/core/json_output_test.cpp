#include "core/json_output.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace flywheel {
namespace {

TEST(JsonOutput, ErrorObjectShape) {
  nlohmann::json error = error_json(Status::not_found("no such tokenizer 'x.json'"));
  EXPECT_EQ(error["error"]["message"], "no such tokenizer 'x.json'");
  EXPECT_EQ(error["error"]["type"], "not_found");
  EXPECT_EQ(error["error"]["code"], 3);
  EXPECT_EQ(error.size(), 1u);
}

TEST(JsonOutput, ExitCodes) {
  EXPECT_EQ(exit_code_for(Status::OK()), 0);
  EXPECT_EQ(exit_code_for(Status::invalid_argument("")), 2);
  EXPECT_EQ(exit_code_for(Status::not_found("")), 3);
  EXPECT_EQ(exit_code_for(Status::io_error("")), 4);
  EXPECT_EQ(exit_code_for(Status::resource_exhausted("")), 4);
  EXPECT_EQ(exit_code_for(Status::corruption("")), 5);
  EXPECT_EQ(exit_code_for(Status::internal("")), 1);
  EXPECT_EQ(exit_code_for(StatusCode::kCancelled), 130);
  // Every non-OK code maps to a non-zero exit code and a snake_case type.
  for (int c = 1; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    auto code = static_cast<StatusCode>(c);
    EXPECT_NE(exit_code_for(code), 0) << c;
    std::string_view type = status_type_name(code);
    EXPECT_EQ(type.find(' '), std::string_view::npos) << type;
    EXPECT_NE(type, "unknown");
  }
}

TEST(JsonOutput, LinesAreCompactAndSurviveInvalidUtf8) {
  nlohmann::json value = {{"text", std::string("a\xff"
                                               "b\n")},
                          {"ids", {1, 2}}};
  std::string line = to_json_line(value);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("a\xef\xbf\xbd"
                      "b\\n"),
            std::string::npos)
      << line;  // U+FFFD
  EXPECT_NE(line.find("[1,2]"), std::string::npos) << line;
}

TEST(JsonOutput, PrintWritesOneLine) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  print_json_line({{"a", 1}}, file);
  print_json_line({{"b", "x"}}, file);
  std::rewind(file);
  char buffer[256] = {};
  size_t n = std::fread(buffer, 1, sizeof buffer - 1, file);
  std::fclose(file);
  EXPECT_EQ(std::string(buffer, n), "{\"a\":1}\n{\"b\":\"x\"}\n");
}

}  // namespace
}  // namespace flywheel
