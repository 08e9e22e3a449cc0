// The single-line rule, the tool-call convention (serve/prompts.h,
// serve/tool_calls.h) and FIM truncation of prompts far over the context
// against the tiny model; the rest of prompt building is covered through the
// routes in routes_test.cpp.
#include "serve/prompts.h"

#include <gtest/gtest.h>

#include "serve/tool_calls.h"
#include "tests/serve/serve_test_util.h"

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

TEST(BuildFim, AHugePromptIsCutOnBothSidesAroundTheCursor) {
  auto model = load_served_model(testing::tiny_model_dir().string(), "tiny");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  FimRequest request;
  for (int i = 0; request.prefix.size() < (6u << 20); ++i)
    request.prefix += "value_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
  request.prefix += "def near_the_cursor():\n    return ";
  request.suffix = "\nprint(near_the_cursor())\n";
  for (int i = 0; request.suffix.size() < (2u << 20); ++i)
    request.suffix += "other_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
  const auto started = std::chrono::steady_clock::now();
  auto built = build_fim(**model, request, "", /*truncate=*/true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  EXPECT_TRUE(built->truncated);
  const auto limit = static_cast<size_t>((*model)->context_length - 1);
  EXPECT_LE(built->tokens.size(), limit);
  EXPECT_GT(built->tokens.size(), limit * 3 / 4) << "the cut keeps most of the budget";
  const std::string text = (*model)->tokenizer().decode(built->tokens);
  EXPECT_NE(text.find("def near_the_cursor():\n    return "), std::string::npos);
  EXPECT_NE(text.find("print(near_the_cursor())\nother_0 = compute(0)\n"), std::string::npos) << "the suffix's start";
  // The event keeps the whole request.
  EXPECT_EQ(built->prefix, request.prefix);
  EXPECT_EQ(built->suffix, request.suffix);
  std::cout << "build_fim of a " << (request.prefix.size() >> 20) << " MiB prefix and " << (request.suffix.size() >> 20)
            << " MiB suffix: " << seconds << " s\n";
}

}  // namespace
}  // namespace flywheel::serve
