// The single-line rule and the tool-call convention (serve/prompts.h,
// serve/tool_calls.h); prompt building against a model is covered through
// the routes in server_test.cpp.
#include "serve/prompts.h"

#include <gtest/gtest.h>

#include "serve/tool_calls.h"

namespace flywheel::serve {
namespace {

TEST(SingleLineRule, FinishesLinesUnlessABlockOpens) {
  EXPECT_TRUE(single_line_rule("x = 1\nreturn a +"));
  EXPECT_TRUE(single_line_rule("    total = compute(a, b)"));
  EXPECT_FALSE(single_line_rule("def f(x):"));
  EXPECT_FALSE(single_line_rule("def f(x):  \t"));
  EXPECT_FALSE(single_line_rule("if (x) {"));
  EXPECT_FALSE(single_line_rule("items = ["));
  EXPECT_FALSE(single_line_rule("call("));
  EXPECT_FALSE(single_line_rule("const f = () =>"));
  EXPECT_FALSE(single_line_rule("x = 1\n"));
  EXPECT_FALSE(single_line_rule("x = 1\n    "));
  EXPECT_FALSE(single_line_rule(""));
}

TEST(ToolCalls, ParsesCallsAndKeepsTheRest) {
  ParsedToolOutput out = parse_tool_output(
      "Let me check.\n<tool_call>{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n"
      "<tool_call>{\"name\": \"time\"}</tool_call>");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "weather");
  EXPECT_EQ(nlohmann::json::parse(out.calls[0].arguments), nlohmann::json({{"city", "Paris"}}));
  EXPECT_EQ(out.calls[1].arguments, "{}");
  EXPECT_TRUE(out.calls[0].id.starts_with("call_"));
  EXPECT_NE(out.calls[0].id, out.calls[1].id);
  EXPECT_EQ(out.content, "Let me check.");

  ParsedToolOutput none = parse_tool_output("plain <tool_call>not json</tool_call> text");
  EXPECT_TRUE(none.calls.empty());
  EXPECT_EQ(none.content, "plain <tool_call>not json</tool_call> text");

  ParsedToolOutput cut = parse_tool_output("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\":1}\"}");
  ASSERT_EQ(cut.calls.size(), 1u);  // unclosed at max_tokens
  EXPECT_EQ(cut.calls[0].arguments, "{\"a\":1}");
}

TEST(ToolCalls, ToolsGoIntoTheSystemMessage) {
  ChatRequest r;
  r.messages = {{"system", "Be brief.", {}, ""},
                {"user", "Weather?", {}, ""},
                {"assistant", "", {{"call_1", "weather", "{\"city\":\"Paris\"}"}}, ""},
                {"tool", "sunny", {}, "call_1"}};
  r.tools = {{"weather", "Weather now", nlohmann::json::object()}};
  std::vector<ChatMessage> chat = chat_messages_with_tools(r);
  ASSERT_EQ(chat.size(), 4u);
  EXPECT_EQ(chat[0].role, "system");
  EXPECT_TRUE(chat[0].content.starts_with("Be brief.\n\n"));
  EXPECT_NE(chat[0].content.find("\"name\":\"weather\""), std::string::npos);
  EXPECT_NE(chat[0].content.find("<tool_call>"), std::string::npos);
  EXPECT_EQ(chat[2].content, "<tool_call>{\"arguments\":{\"city\":\"Paris\"},\"name\":\"weather\"}</tool_call>");
  EXPECT_EQ(chat[3].role, "tool");

  r.tool_choice = "none";
  EXPECT_EQ(chat_messages_with_tools(r)[0].content, "Be brief.");
}

}  // namespace
}  // namespace flywheel::serve
