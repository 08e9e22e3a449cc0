// Request bodies → typed requests: defaults of each API, every field read,
// and errors that name the field (OpenAI's `param`).
#include "serve/api_types.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace flywheel::serve {
namespace {

using nlohmann::json;

TEST(ParseJsonObject, RejectsMalformedNonObjectAndTooDeep) {
  EXPECT_TRUE(parse_json_object(R"({"a": 1})").ok());
  EXPECT_EQ(parse_json_object("{\"a\": ").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_json_object("[1, 2]").status().message(), "the body must be a JSON object");
  EXPECT_EQ(parse_json_object("").status().code(), StatusCode::kInvalidArgument);
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_NE(parse_json_object(deep).status().message().find("nested deeper"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(parse_json_object("{\"a\": \"" + std::string(200, '[') + "\"}").ok());
  EXPECT_FALSE(parse_json_object("{\"a\": \"\xff\"}").ok());  // not UTF-8
}

TEST(CompletionRequest, OpenAiDefaultsAndFields) {
  auto r = parse_completion_request(json::parse(R"({"model": "m", "prompt": "def f(", "suffix": "\n", "max_tokens": 32,
      "temperature": 0, "top_p": 0.5, "n": 2, "stop": ["\n\n", ""], "stream": true, "logprobs": 3, "seed": 42,
      "stream_options": {"include_usage": true}, "flywheel": {"source": "replay", "session": "s1", "repo": "r",
      "path": "a.py", "language": "python", "cursor": 7}, "unknown_field": [1, 2]})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt, "def f(");
  EXPECT_EQ(r->suffix, std::optional<std::string>("\n"));
  EXPECT_EQ(r->gen.params.max_tokens, 32);
  EXPECT_EQ(r->gen.params.temperature, 0.0f);
  EXPECT_EQ(r->gen.params.top_p, 0.5f);
  EXPECT_EQ(r->gen.n, 2);
  EXPECT_EQ(r->gen.params.stop, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(r->gen.stream);
  EXPECT_TRUE(r->gen.include_usage);
  EXPECT_EQ(r->gen.params.logprobs, 3);
  EXPECT_EQ(r->gen.params.seed, std::optional<uint64_t>(42));
  EXPECT_EQ(r->context.source, "replay");
  EXPECT_EQ(r->context.session, "s1");
  EXPECT_EQ(r->context.cursor, std::optional<int64_t>(7));

  auto defaults = parse_completion_request(json::parse(R"({"prompt": ["x"], "stop": "END"})"));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->gen.params.max_tokens, 16);
  EXPECT_EQ(defaults->gen.params.temperature, 1.0f);
  EXPECT_FALSE(defaults->suffix.has_value());
  EXPECT_EQ(defaults->gen.params.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(defaults->context.source, "editor");
}

TEST(CompletionRequest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({})", "prompt"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": "x", "max_tokens": "16"})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 0})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "x", "temperature": 3})", "temperature"},
      {R"({"prompt": "x", "n": 100})", "n"},
      {R"({"prompt": "x", "stop": [1]})", "stop[0]"},
      {R"({"prompt": "x", "stream": "yes"})", "stream"},
      {R"({"prompt": "x", "logprobs": 6})", "logprobs"},
      {R"({"prompt": "x", "seed": 1e300})", "seed"},
      {R"({"prompt": "x", "flywheel": {"source": "web"}})", "flywheel.source"},
      {R"({"prompt": "x", "flywheel": {"cursor": -1}})", "flywheel.cursor"},
      {R"({"prompt": "x", "flywheel": []})", "flywheel"},
  };
  for (const Case& c : cases) {
    auto r = parse_completion_request(json::parse(c.body));
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(error_param(r.status()), c.param) << c.body << " -> " << r.status().message();
  }
  // Integral floats are integers; null is absent.
  auto r = parse_completion_request(json::parse(R"({"prompt": "x", "max_tokens": 16.0, "suffix": null})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gen.params.max_tokens, 16);
  EXPECT_FALSE(r->suffix.has_value());
}

TEST(InfillRequest, LlamaVscodeBody) {
  // As llama.vscode sends it (src/llama-server.ts createRequestPayload).
  auto r = parse_infill_request(json::parse(R"({
    "input_prefix": "import os\n\ndef main():\n", "input_suffix": "\n    return 0\n",
    "input_extra": [{"text": "def helper():\n    pass\n", "time": 1712345678, "filename": "util.py"}],
    "prompt": "    x = ", "n_predict": 128, "top_k": 40, "top_p": 0.99, "stream": false,
    "samplers": ["top_k", "top_p", "infill"], "cache_prompt": true, "t_max_prompt_ms": 500,
    "t_max_predict_ms": 1000, "n_indent": 4})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->input_prefix, "import os\n\ndef main():\n");
  EXPECT_EQ(r->prompt, "    x = ");
  ASSERT_EQ(r->input_extra.size(), 1u);
  EXPECT_EQ(r->input_extra[0].first, "util.py");
  EXPECT_EQ(r->gen.params.max_tokens, 128);
  EXPECT_EQ(r->gen.params.top_k, 40);
  EXPECT_EQ(r->gen.max_time_ms, std::optional<int64_t>(1000));
  EXPECT_FALSE(r->gen.prefill_only);

  auto warmup = parse_infill_request(json::parse(R"({"input_prefix": "a", "n_predict": 0, "samplers": []})"));
  ASSERT_TRUE(warmup.ok());
  EXPECT_TRUE(warmup->gen.prefill_only);
  auto unbounded = parse_infill_request(json::parse(R"({"n_predict": -1, "seed": -1})"));
  ASSERT_TRUE(unbounded.ok());
  EXPECT_EQ(unbounded->gen.params.max_tokens, kDefaultMaxTokens);
  EXPECT_FALSE(unbounded->gen.params.seed.has_value());

  auto bad = parse_infill_request(json::parse(R"({"input_extra": [{"filename": 3}]})"));
  EXPECT_EQ(error_param(bad.status()), "input_extra[0].filename");
}

TEST(TabbyCompletionRequest, AgentBody) {
  json body = json::parse(R"({"language": "python", "segments": {"prefix": "def add(a, b):\n    ",
      "suffix": "\n", "filepath": "src/math.py", "git_url": "https://github.com/acme/calc.git",
      "declarations": [{"filepath": "src/types.py", "body": "class Num: ..."}],
      "relevant_snippets_from_changed_files": [{"filepath": "src/sub.py", "body": "def sub(a, b):", "score": 0.8}],
      "relevant_snippets_from_recently_opened_files": [{"filepath": "README.md", "body": "# calc", "score": 0.2}],
      "clipboard": "x"}, "user": "alice", "temperature": 0.2, "mode": "standard"})");
  EXPECT_TRUE(is_tabby_completion(body));
  EXPECT_FALSE(is_tabby_completion(json::parse(R"({"prompt": "x"})")));
  auto r = parse_tabby_completion_request(body);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->prefix, "def add(a, b):\n    ");
  EXPECT_EQ(r->filepath, "src/math.py");
  ASSERT_EQ(r->snippets.size(), 3u);
  EXPECT_EQ(r->snippets[0].first, "src/types.py");  // declarations first
  EXPECT_EQ(r->snippets[2].first, "README.md");
  EXPECT_EQ(r->context.language, "python");
  EXPECT_EQ(r->context.path, "src/math.py");
  EXPECT_EQ(r->gen.params.temperature, 0.2f);
  EXPECT_EQ(error_param(parse_tabby_completion_request(json::parse(R"({"segments": {}})")).status()),
            "segments.prefix");
}

TEST(ChatRequest, MessagesToolsAndErrors) {
  auto r = parse_chat_request(json::parse(R"({"model": "auto", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Paris?"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
          "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
      "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
      "tool_choice": "auto", "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 2})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[1].content, "Weather in Paris?");
  ASSERT_EQ(r->messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r->messages[2].tool_calls[0].name, "weather");
  EXPECT_EQ(r->messages[3].tool_call_id, "call_1");
  ASSERT_EQ(r->tools.size(), 1u);
  EXPECT_EQ(r->tools[0].parameters["type"], "object");
  EXPECT_EQ(r->gen.params.max_tokens, 9);
  EXPECT_EQ(r->gen.params.logprobs, 2);

  EXPECT_EQ(error_param(parse_chat_request(json::parse(R"({"messages": []})")).status()), "messages");
  EXPECT_EQ(error_param(parse_chat_request(json::parse(R"({"messages": [{"content": "x"}]})")).status()),
            "messages[0].role");
  EXPECT_EQ(error_param(parse_chat_request(
                            json::parse(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"))
                            .status()),
            "messages[0].content[0].type");
  EXPECT_EQ(error_param(parse_chat_request(
                            json::parse(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"})"))
                            .status()),
            "tool_choice");
}

TEST(EventAndFeedback, TabbyEventsAndOurFeedback) {
  auto view = parse_tabby_event(json::parse(R"({"type": "view", "completion_id": "cmpl-1", "choice_index": 0})"));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->kind, feedback::OutcomeKind::kShown);
  auto line =
      parse_tabby_event(json::parse(R"({"type": "select", "completion_id": "cmpl-1", "choice_index": 0})"), "line");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->kind, feedback::OutcomeKind::kPartiallyAccepted);
  auto dismiss = parse_tabby_event(json::parse(R"({"type": "dismiss", "completion_id": "c"})"));
  ASSERT_TRUE(dismiss.ok());
  EXPECT_EQ(dismiss->kind, feedback::OutcomeKind::kRejected);
  EXPECT_EQ(error_param(parse_tabby_event(json::parse(R"({"type": "poke", "completion_id": "c"})")).status()), "type");

  auto fb = parse_feedback_request(json::parse(
      R"({"id": "cmpl-9", "choice_index": 1, "kind": "partially_accepted", "accepted_length": 12, "final_text": "x"})"));
  ASSERT_TRUE(fb.ok()) << fb.status().to_string();
  EXPECT_EQ(fb->kind, feedback::OutcomeKind::kPartiallyAccepted);
  EXPECT_EQ(fb->accepted_length, std::optional<int64_t>(12));
  EXPECT_EQ(fb->final_text, std::optional<std::string>("x"));
  EXPECT_EQ(error_param(parse_feedback_request(json::parse(R"({"id": "c", "kind": "partially_accepted"})")).status()),
            "accepted_length");
  EXPECT_EQ(error_param(parse_feedback_request(json::parse(R"({"id": "c", "kind": "loved"})")).status()), "kind");
  EXPECT_EQ(error_param(parse_feedback_request(json::parse(R"({"kind": "accepted"})")).status()), "id");
}

TEST(CompletionRequest, LogitBiasInOpenAiAndLlamaShapes) {
  auto openai = parse_completion_request(json::parse(R"({"prompt": "x", "logit_bias": {"17": 100, "3": -5.5}})"));
  ASSERT_TRUE(openai.ok()) << openai.status().to_string();
  auto bias = openai->gen.params.logit_bias;
  std::sort(bias.begin(), bias.end());
  ASSERT_EQ(bias.size(), 2u);
  EXPECT_EQ(bias[0], std::make_pair(TokenId{3}, -5.5f));
  EXPECT_EQ(bias[1], std::make_pair(TokenId{17}, 100.0f));
  auto llama = parse_infill_request(json::parse(R"({"input_prefix": "a", "logit_bias": [[5, 2.0]]})"));
  ASSERT_TRUE(llama.ok()) << llama.status().to_string();
  ASSERT_EQ(llama->gen.params.logit_bias.size(), 1u);
  EXPECT_EQ(llama->gen.params.logit_bias[0], std::make_pair(TokenId{5}, 2.0f));
  for (const char* bad : {R"({"prompt": "x", "logit_bias": {"a": 1}})", R"({"prompt": "x", "logit_bias": {"1": 101}})",
                          R"({"prompt": "x", "logit_bias": {"-1": 1}})", R"({"prompt": "x", "logit_bias": [[1]]})",
                          R"({"prompt": "x", "logit_bias": {"1": "high"}})", R"({"prompt": "x", "logit_bias": 3})"}) {
    auto r = parse_completion_request(json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(error_param(r.status()).substr(0, 10), "logit_bias") << bad << ": " << r.status().to_string();
  }
}

TEST(EventAndFeedback, FinalTextIsBounded) {
  json body = {{"id", "cmpl-1"}, {"kind", "accepted"}, {"final_text", std::string(kMaxFinalTextBytes, 'x')}};
  EXPECT_TRUE(parse_feedback_request(body).ok());
  body["final_text"] = std::string(kMaxFinalTextBytes + 1, 'x');
  auto r = parse_feedback_request(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_param(r.status()), "final_text");
}

TEST(SwapRequest, FieldsAndDefaults) {
  auto r = parse_swap_request(json::parse(R"({"model": "/m", "id": "v2"})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->deployment, "auto");
  EXPECT_FALSE(r->wait);
  EXPECT_EQ(error_param(parse_swap_request(json::parse(R"({"model": ""})")).status()), "model");
}

TEST(ErrorParam, OnlyForFieldPaths) {
  EXPECT_EQ(error_param(Status::invalid_argument("messages[2].content: must be a string")), "messages[2].content");
  EXPECT_EQ(error_param(Status::invalid_argument("the body is not valid JSON")), "");
  EXPECT_EQ(error_param(Status::not_found("model: 'x' is not served")), "");
}

}  // namespace
}  // namespace flywheel::serve
