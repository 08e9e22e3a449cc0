// Every route of `flywheel serve` in-process against the tiny model: the
// shapes of OpenAI, llama.cpp and Tabby answers, SSE framing, events reaching
// the store, metrics, and the errors of bad requests.
#include <gtest/gtest.h>

#include <thread>

#include "feedback/store.h"
#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

class RoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions options;
    options.max_body_bytes = 256 << 10;
    server_ = new testing::TestServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static httplib::Result post(const std::string& path, const json& body) {
    return server_->client()->Post(path.c_str(), body.dump(), "application/json");
  }

  static std::vector<feedback::SuggestionWithOutcomes> stored_events() {
    auto store = feedback::open_store(server_->db_url());
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    feedback::EventQuery query;
    auto events = (*store)->events(query);
    EXPECT_TRUE(events.ok()) << events.status().to_string();
    return events.ok() ? *events : std::vector<feedback::SuggestionWithOutcomes>{};
  }

  static const feedback::SuggestionWithOutcomes* find_event(const std::vector<feedback::SuggestionWithOutcomes>& all,
                                                            const std::string& id) {
    for (const auto& e : all)
      if (e.suggestion.id == id) return &e;
    return nullptr;
  }

  static testing::TestServer* server_;
};

testing::TestServer* RoutesTest::server_ = nullptr;

const char* kPrefix = "def add(a, b):\n    return ";
const char* kSuffix = "\n\nprint(add(1, 2))\n";

TEST_F(RoutesTest, ModelsListsCheckpointAndDeployment) {
  auto r = server_->client()->Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json body = testing::json_of(r);
  EXPECT_EQ(body["object"], "list");
  std::vector<std::string> ids;
  for (const auto& m : body["data"]) {
    EXPECT_EQ(m["object"], "model");
    ids.push_back(m["id"]);
  }
  EXPECT_NE(std::find(ids.begin(), ids.end(), "tiny"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "auto"), ids.end());
}

TEST_F(RoutesTest, CompletionsPlainAndFim) {
  auto plain = post("/v1/completions", {{"model", "tiny"}, {"prompt", "import os\n"}, {"max_tokens", 4}});
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->body;
  json body = testing::json_of(plain);
  EXPECT_TRUE(body["id"].get<std::string>().starts_with("cmpl-"));
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_GT(body["created"].get<int64_t>(), 1600000000);
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_TRUE(body["choices"][0]["text"].is_string());
  EXPECT_TRUE(body["choices"][0]["logprobs"].is_null());
  const auto& usage = body["usage"];
  EXPECT_LE(usage["completion_tokens"].get<int>(), 4);
  EXPECT_EQ(usage["total_tokens"], usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());

  auto fim = post("/v1/completions", {{"prompt", kPrefix},
                                      {"suffix", kSuffix},
                                      {"max_tokens", 6},
                                      {"n", 2},
                                      {"temperature", 0.8},
                                      {"seed", 3},
                                      {"logprobs", 2}});
  ASSERT_TRUE(fim);
  ASSERT_EQ(fim->status, 200) << fim->body;
  body = testing::json_of(fim);
  ASSERT_EQ(body["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& choice = body["choices"][i];
    EXPECT_EQ(choice["index"], i);
    const auto& lp = choice["logprobs"];
    ASSERT_TRUE(lp.is_object()) << choice;
    EXPECT_EQ(lp["tokens"].size(), lp["token_logprobs"].size());
    EXPECT_EQ(lp["tokens"].size(), lp["text_offset"].size());
    for (const auto& top : lp["top_logprobs"]) EXPECT_LE(top.size(), 2u);
    EXPECT_TRUE(choice["finish_reason"] == "stop" || choice["finish_reason"] == "length");
  }
}

TEST_F(RoutesTest, MinTokenProbCutsUnsureSuggestions) {
  // No token is certain (p = 1): with the bar at 1 nothing is shown.
  auto none = post(
      "/v1/completions",
      {{"prompt", "def f(x):\n"}, {"suffix", "\n"}, {"max_tokens", 8}, {"temperature", 0}, {"min_token_prob", 1.0}});
  ASSERT_TRUE(none);
  ASSERT_EQ(none->status, 200) << none->body;
  EXPECT_EQ(testing::json_of(none)["choices"][0]["text"], "");
  EXPECT_EQ(testing::json_of(none)["choices"][0]["finish_reason"], "stop");
  auto all = post(
      "/v1/completions",
      {{"prompt", "def f(x):\n"}, {"suffix", "\n"}, {"max_tokens", 8}, {"temperature", 0}, {"min_token_prob", 0.0}});
  ASSERT_TRUE(all);
  EXPECT_EQ(testing::json_of(all)["usage"]["completion_tokens"].get<int>() > 0, true) << all->body;
  // min_show_prob needs a show head; a model without one shows everything.
  auto headless = post(
      "/v1/completions",
      {{"prompt", "def f(x):\n"}, {"suffix", "\n"}, {"max_tokens", 8}, {"temperature", 0}, {"min_show_prob", 1.0}});
  ASSERT_TRUE(headless);
  EXPECT_GT(testing::json_of(headless)["usage"]["completion_tokens"].get<int>(), 0) << headless->body;
  EXPECT_FALSE(testing::json_of(headless)["choices"][0].contains("show_probability")) << headless->body;
}

TEST_F(RoutesTest, CompletionsStreamMatchesWholeAnswer) {
  json request = {
      {"prompt", kPrefix}, {"suffix", kSuffix}, {"max_tokens", 12}, {"temperature", 0}, {"single_line", false}};
  auto whole = post("/v1/completions", request);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200);
  const std::string expected = testing::json_of(whole)["choices"][0]["text"];

  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  auto streamed = post("/v1/completions", request);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
  auto payloads = testing::sse_payloads(streamed->body);
  ASSERT_GE(payloads.size(), 3u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text;
  int finishes = 0;
  bool usage = false;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    json chunk = json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    if (chunk.contains("usage")) {
      usage = true;
      EXPECT_TRUE(chunk["choices"].empty());
      continue;
    }
    text += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) ++finishes;
  }
  EXPECT_EQ(text, expected);
  EXPECT_EQ(finishes, 1);
  EXPECT_TRUE(usage);
}

TEST_F(RoutesTest, ChatWholeAndStreamed) {
  json request = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}},
                  {"max_tokens", 6},
                  {"temperature", 0}};
  auto whole = post("/v1/chat/completions", request);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json body = testing::json_of(whole);
  EXPECT_TRUE(body["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const std::string expected = body["choices"][0]["message"]["content"];
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 0);

  request["stream"] = true;
  auto streamed = post("/v1/chat/completions", request);
  ASSERT_TRUE(streamed);
  auto payloads = testing::sse_payloads(streamed->body);
  ASSERT_GE(payloads.size(), 3u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  json first = json::parse(payloads[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    json chunk = json::parse(payloads[i]);
    const auto& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, expected);
  EXPECT_FALSE(json::parse(payloads[payloads.size() - 2])["choices"][0]["finish_reason"].is_null());

  // Tools are accepted in OpenAI's shape (the tiny model will not call them).
  request["stream"] = false;
  request["tools"] = {{{"type", "function"}, {"function", {{"name", "add"}, {"parameters", {{"type", "object"}}}}}}};
  auto with_tools = post("/v1/chat/completions", request);
  ASSERT_TRUE(with_tools);
  EXPECT_EQ(with_tools->status, 200) << with_tools->body;
}

// llama.vscode's /infill body, as its src/llama-server.ts sends it.
json llama_vscode_infill(int n_predict) {
  json body = json::parse(R"({
    "input_prefix": "import math\n\ndef area(r):\n",
    "input_suffix": "\n\nprint(area(2))\n",
    "input_extra": [{"text": "def circumference(r):\n    return 2 * math.pi * r\n", "time": 1712345678,
                     "filename": "geometry.py"}],
    "prompt": "    return ",
    "top_k": 40, "top_p": 0.99, "stream": false, "samplers": ["top_k", "top_p", "infill"],
    "cache_prompt": true, "t_max_prompt_ms": 500, "t_max_predict_ms": 1000})");
  body["n_predict"] = n_predict;
  return body;
}

TEST_F(RoutesTest, InfillAsLlamaVscodeUsesIt) {
  // The warm-up request: prompt only.
  auto warm = post("/infill", llama_vscode_infill(0));
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->status, 200) << warm->body;
  json body = testing::json_of(warm);
  EXPECT_EQ(body["content"], "");
  EXPECT_EQ(body["tokens_predicted"], 0);

  auto r = post("/infill", llama_vscode_infill(16));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  body = testing::json_of(r);
  EXPECT_TRUE(body["content"].is_string());
  EXPECT_EQ(body["stop"], true);
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_GT(body["tokens_evaluated"].get<int>(), 10);
  // The warm-up left the prompt in the cache.
  EXPECT_GT(body["tokens_cached"].get<int>(), 0) << body;
  EXPECT_TRUE(body["timings"].contains("predicted_per_second"));
  EXPECT_TRUE(body["timings"].contains("prompt_ms"));
  EXPECT_TRUE(body["completion_id"].get<std::string>().starts_with("cmpl-"));
  EXPECT_TRUE(body["stop_type"] == "eos" || body["stop_type"] == "limit");

  json stream_request = llama_vscode_infill(8);
  stream_request["stream"] = true;
  auto streamed = post("/infill", stream_request);
  ASSERT_TRUE(streamed);
  auto payloads = testing::sse_payloads(streamed->body);
  ASSERT_GE(payloads.size(), 1u);
  for (size_t i = 0; i + 1 < payloads.size(); ++i) EXPECT_EQ(json::parse(payloads[i])["stop"], false);
  json last = json::parse(payloads.back());  // llama.cpp's framing: no [DONE]
  EXPECT_EQ(last["stop"], true);
  EXPECT_TRUE(last.contains("timings"));
}

TEST_F(RoutesTest, LlamaCompletion) {
  auto r = post("/completion", {{"prompt", "int main() {"}, {"n_predict", 5}, {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json body = testing::json_of(r);
  EXPECT_TRUE(body["content"].is_string());
  EXPECT_LE(body["tokens_predicted"].get<int>(), 5);
}

TEST_F(RoutesTest, TabbyCompletionAndEventsReachTheStore) {
  // As tabby-agent sends it (segments built by its completion context).
  json request = json::parse(R"({
    "language": "python",
    "segments": {
      "prefix": "def add(a, b):\n    ", "suffix": "\n\ndef sub(a, b):\n    return a - b\n",
      "filepath": "calc/ops.py", "git_url": "https://github.com/acme/calc.git",
      "declarations": [{"filepath": "calc/types.py", "body": "Number = int | float\n"}],
      "relevant_snippets_from_changed_files": [{"filepath": "calc/mul.py", "body": "def mul(a, b):\n    return a * b\n", "score": 0.71}],
      "relevant_snippets_from_recently_opened_files": []
    },
    "temperature": 0.1, "mode": "standard"})");
  request["logit_bias"] = testing::always_write(*server_);  // a suggestion to record, whatever the weights
  auto r = post("/v1/completions", request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json body = testing::json_of(r);
  const std::string id = body["id"];
  EXPECT_TRUE(id.starts_with("cmpl-"));
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  const std::string text = body["choices"][0]["text"];
  ASSERT_FALSE(text.empty()) << r->body;
  ASSERT_EQ(text.find_first_not_of('a'), std::string::npos) << text;

  auto event = [&](const std::string& type, const std::string& query) {
    auto e = server_->client()->Post(
        ("/v1/events" + query).c_str(),
        json{{"type", type}, {"completion_id", id}, {"choice_index", 0}, {"view_id", "view-1"}}.dump(),
        "application/json");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 200) << e->body;
  };
  event("view", "");
  event("select", "?select_kind=line");
  event("dismiss", "");

  // Durable once answered: the store has them now.
  auto events = stored_events();
  const auto* stored = find_event(events, id);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->suggestion.path, "calc/ops.py");
  EXPECT_EQ(stored->suggestion.language, "python");
  EXPECT_EQ(stored->suggestion.text, text);
  ASSERT_EQ(stored->outcomes.size(), 3u);
  EXPECT_EQ(stored->outcomes[0].kind, feedback::OutcomeKind::kShown);
  EXPECT_EQ(stored->outcomes[1].kind, feedback::OutcomeKind::kPartiallyAccepted);
  EXPECT_EQ(stored->outcomes[2].kind, feedback::OutcomeKind::kRejected);
}

TEST_F(RoutesTest, FeedbackAndReplayContextAreRecorded) {
  // Replay's extension object fills the event; the bias makes the answer
  // non-empty (so recorded) whatever the random weights say.
  auto r = post("/v1/completions", {{"prompt", kPrefix},
                                    {"suffix", kSuffix},
                                    {"max_tokens", 8},
                                    {"single_line", false},
                                    {"logit_bias", testing::always_write(*server_)},
                                    {"flywheel",
                                     {{"source", "replay"},
                                      {"session", "run-1"},
                                      {"repo", "calc"},
                                      {"path", "ops.py"},
                                      {"language", "python"},
                                      {"cursor", 26}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json body = testing::json_of(r);
  const std::string id = body["id"];
  const std::string text = body["choices"][0]["text"];
  ASSERT_EQ(text, "aaaaaaaa") << r->body;

  auto fb = post("/v1/feedback", {{"id", id},
                                  {"choice_index", 0},
                                  {"kind", "partially_accepted"},
                                  {"accepted_length", 3},
                                  {"final_text", "a + b"}});
  ASSERT_TRUE(fb);
  ASSERT_EQ(fb->status, 200) << fb->body;
  EXPECT_EQ(testing::json_of(fb), json({{"ok", true}}));
  EXPECT_EQ(post("/v1/feedback", {{"id", id}, {"kind", "sort_of"}})->status, 400);
  // Outcomes only for suggestions that were served, with a bounded final_text.
  auto unknown = post("/v1/feedback", {{"id", "cmpl-never-served"}, {"kind", "rejected"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  EXPECT_EQ(testing::json_of(unknown)["error"]["param"], "id");
  EXPECT_EQ(post("/v1/feedback", {{"id", id}, {"choice_index", 1}, {"kind", "rejected"}})->status, 404)
      << "the request had one choice";
  auto tabby_unknown = post("/v1/events", {{"type", "view"}, {"completion_id", "cmpl-never-served"}});
  ASSERT_TRUE(tabby_unknown);
  EXPECT_EQ(tabby_unknown->status, 404) << tabby_unknown->body;
  auto huge = post("/v1/feedback", {{"id", id}, {"kind", "accepted"}, {"final_text", std::string(65 << 10, 'x')}});
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 400) << huge->body.substr(0, 300);
  EXPECT_EQ(testing::json_of(huge)["error"]["param"], "final_text");

  auto events = stored_events();
  const auto* stored = find_event(events, id);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->suggestion.source, "replay");
  EXPECT_EQ(stored->suggestion.session, "run-1");
  EXPECT_EQ(stored->suggestion.repo, "calc");
  EXPECT_EQ(stored->suggestion.cursor, 26);
  EXPECT_EQ(stored->suggestion.model_id, "tiny");
  EXPECT_EQ(stored->suggestion.prefix_window, kPrefix);
  EXPECT_EQ(stored->suggestion.suffix_window, kSuffix);
  EXPECT_EQ(stored->suggestion.prefix_hash.size(), 64u);
  EXPECT_GT(stored->suggestion.prompt_tokens, 0);
  ASSERT_EQ(stored->outcomes.size(), 1u);
  EXPECT_EQ(stored->outcomes[0].accepted_length, 3);
  EXPECT_EQ(stored->outcomes[0].final_text, std::optional<std::string>("a + b"));
}

TEST_F(RoutesTest, HealthAndMetrics) {
  auto health = server_->client()->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(testing::json_of(health)["status"], "ok");
  auto tabby = server_->client()->Get("/v1/health");
  ASSERT_TRUE(tabby);
  EXPECT_EQ(testing::json_of(tabby)["model"], "tiny");

  ASSERT_EQ(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}})->status, 200);
  // httplib counts a request in its logger, after the response is on the
  // wire: the client may ask for /metrics before that, so wait for it.
  const std::string counted = "flywheel_http_requests_total{route=\"/v1/completions\",status=\"200\"}";
  std::string text;
  for (int i = 0; i < 200 && text.find(counted) == std::string::npos; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto metrics = server_->client()->Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    text = metrics->body;
  }

  EXPECT_NE(text.find(counted), std::string::npos) << text;
  EXPECT_NE(text.find("flywheel_http_request_duration_seconds_bucket{route=\"/v1/completions\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(text.find("flywheel_serving_model{deployment=\"auto\",model=\"tiny\"} 1"), std::string::npos);
  EXPECT_NE(text.find("flywheel_prompt_cache_hit_ratio "), std::string::npos);
  EXPECT_NE(text.find("flywheel_queue_depth "), std::string::npos);
  EXPECT_NE(text.find("flywheel_completion_tokens_per_second "), std::string::npos);
}

void expect_error(const httplib::Result& r, int status, const std::string& code, const std::string& param = "") {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  json body = testing::json_of(r);
  ASSERT_TRUE(body.contains("error")) << r->body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_TRUE(body["error"]["type"].is_string());
  EXPECT_EQ(body["error"]["code"], code) << r->body;
  if (!param.empty()) {
    EXPECT_EQ(body["error"]["param"], param) << r->body;
  }
}

TEST_F(RoutesTest, BadRequestsGetOpenAiErrors) {
  auto client = server_->client();
  expect_error(client->Post("/v1/completions", "{\"prompt\": ", "application/json"), 400, "invalid_argument");
  expect_error(client->Post("/v1/completions", "[1]", "application/json"), 400, "invalid_argument");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", "ten"}}), 400, "invalid_argument",
               "max_tokens");
  expect_error(post("/v1/chat/completions", {{"messages", "hi"}}), 400, "invalid_argument", "messages");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"min_token_prob", 1.5}}), 400, "invalid_argument",
               "min_token_prob");
  expect_error(post("/v1/completions", {{"prompt", "x"}, {"min_show_prob", -0.1}}), 400, "invalid_argument",
               "min_show_prob");
  expect_error(post("/v1/completions", {{"model", "gpt-9"}, {"prompt", "x"}}), 404, "model_not_found", "model");
  expect_error(post("/infill", {{"model", "gpt-9"}}), 404, "model_not_found", "model");
  expect_error(client->Get("/v1/nothing-here"), 404, "unknown_url");

  // Over the body limit (256 KB in this fixture).
  std::string big = json{{"prompt", std::string(300 << 10, 'x')}}.dump();
  expect_error(client->Post("/v1/completions", big, "application/json"), 413, "request_too_large");

  // Longer than the context (512 tokens): a plain prompt is a 400 unless it
  // asks to be cut; a fill-in-the-middle prompt (an editor sends the whole
  // file) is fitted unless it says "truncate": false.
  std::string long_prefix;
  for (int i = 0; i < 400; ++i) long_prefix += "value_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
  expect_error(post("/v1/completions", {{"prompt", long_prefix}}), 400, "context_length_exceeded", "prompt");
  EXPECT_EQ(post("/v1/completions", {{"prompt", long_prefix}, {"truncate", true}, {"max_tokens", 1}})->status, 200);
  expect_error(post("/v1/completions", {{"prompt", long_prefix}, {"suffix", "\n"}, {"truncate", false}}), 400,
               "context_length_exceeded", "prompt");
  expect_error(post("/infill", {{"input_prefix", long_prefix}, {"input_suffix", "\n"}, {"truncate", false}}), 400,
               "context_length_exceeded", "prompt");
  for (const auto& [route, request] :
       {std::pair<std::string, json>{"/infill",
                                     {{"input_prefix", long_prefix}, {"input_suffix", "\n"}, {"n_predict", 2}}},
        {"/v1/completions", {{"prompt", long_prefix}, {"suffix", "\n"}, {"max_tokens", 2}}}}) {
    auto fitted = post(route, request);
    ASSERT_TRUE(fitted);
    ASSERT_EQ(fitted->status, 200) << route << ": " << fitted->body;
    if (route == "/infill") {
      json body = testing::json_of(fitted);
      EXPECT_EQ(body["truncated"], true);
      EXPECT_LT(body["tokens_evaluated"].get<int>(), 512);
    }
  }

  // The server still answers.
  EXPECT_EQ(client->Get("/health")->status, 200);
}

TEST_F(RoutesTest, JsonBodiesNeedAJsonContentType) {
  // An HTML form or a "simple" fetch() posts without a CORS preflight; only
  // application/json bodies are read.
  auto client = server_->client();
  const std::string body = json{{"prompt", "x"}, {"max_tokens", 1}}.dump();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", ""}) {
    expect_error(client->Post("/v1/completions", body, type), 415, "unsupported_media_type");
    expect_error(client->Post("/v1/feedback", body, type), 415, "unsupported_media_type");
  }
  // httplib itself refuses a multipart body that is not one (400).
  EXPECT_EQ(client->Post("/v1/completions", body, "multipart/form-data; boundary=x")->status, 400);
  EXPECT_EQ(client->Post("/v1/completions", body, "application/json; charset=utf-8")->status, 200);
  EXPECT_EQ(client->Post("/v1/completions", body, "Application/JSON")->status, 200);
}

TEST_F(RoutesTest, OtherOriginsAndRebindingHostsAreRefused) {
  auto client = server_->client();
  const std::string body = json{{"prompt", "x"}, {"max_tokens", 1}}.dump();
  const std::string port = std::to_string(server_->port());
  // DNS rebinding: the attacker's name now resolves to 127.0.0.1, so the
  // browser sends that name as Host.
  const httplib::Headers rebound = {{"Host", "attacker.example:" + port}};
  expect_error(client->Post("/v1/completions", rebound, body, "application/json"), 403, "host_not_allowed");
  expect_error(client->Get("/v1/models", rebound), 403, "host_not_allowed");
  expect_error(client->Get("/health", rebound), 403, "host_not_allowed");
  for (const std::string& host :
       {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, std::string("127.0.0.1")}) {
    auto r = client->Get("/v1/models", {{"Host", host}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << host;
  }
  // A page from another origin, and its preflight.
  const httplib::Headers cross = {{"Origin", "http://evil.example"}};
  expect_error(client->Post("/v1/completions", cross, body, "application/json"), 403, "origin_not_allowed");
  expect_error(client->Get("/v1/models", cross), 403, "origin_not_allowed");
  auto preflight = client->Options("/v1/completions",
                                   {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 403);
  EXPECT_FALSE(preflight->has_header("Access-Control-Allow-Origin"));
  // The server's own origin is not cross-origin.
  auto same = client->Post("/v1/completions", {{"Origin", "http://127.0.0.1:" + port}}, body, "application/json");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200) << same->body;
}

TEST_F(RoutesTest, FimTruncationCutsTheSuffixToo) {
  // A suffix alone longer than the context (512 tokens) used to be a 400
  // even with "truncate": only the prefix was ever cut.
  std::string long_suffix;
  for (int i = 0; i < 400; ++i) long_suffix += "value_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
  auto r = post(
      "/infill",
      {{"input_prefix", "def f():\n    return "}, {"input_suffix", long_suffix}, {"n_predict", 1}, {"truncate", true}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json body = testing::json_of(r);
  EXPECT_EQ(body["truncated"], true);
  EXPECT_LT(body["tokens_evaluated"].get<int>(), 512);
  // The prefix near the cursor and the suffix's start are what is kept: most
  // of the budget is used (a cut at a line start costs at most a line).
  EXPECT_GT(body["tokens_evaluated"].get<int>(), 400);
}

TEST_F(RoutesTest, NonStreamedClientThatLeavesStopsItsGeneration) {
  // 16 choices that only the token budget ends (the bias keeps EOS away).
  const json request = {{"prompt", "x"},
                        {"max_tokens", 500},
                        {"n", 16},
                        {"temperature", 0},
                        {"logit_bias", testing::always_write(*server_)}};
  Engine& engine = server_->server().engine();
  const int64_t before = engine.stats().generated_tokens;
  auto full = post("/v1/completions", request);
  ASSERT_TRUE(full);
  ASSERT_EQ(full->status, 200);
  const int64_t full_tokens = engine.stats().generated_tokens - before;
  ASSERT_GT(full_tokens, 16 * 400) << full->body.substr(0, 500);

  // The same request from a client that leaves once its generation is under
  // way (a few dozen tokens in): leaving is tied to the engine's progress,
  // not to a clock, so a loaded machine cannot make the run finish first.
  const int64_t start_tokens = engine.stats().generated_tokens;
  auto client = server_->client();
  bool answered = true;
  std::thread request_thread(
      [&] { answered = static_cast<bool>(client->Post("/v1/completions", request.dump(), "application/json")); });
  // generated_tokens counts a sequence when it ends; steps count as they run
  // (one token for each of the 16 choices a step).
  const int64_t start_steps = engine.stats().steps;
  for (int i = 0; i < 3000 && engine.stats().steps - start_steps < 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t at_leave = 16 * (engine.stats().steps - start_steps);
  client->stop();  // shuts the request's socket down
  request_thread.join();
  EXPECT_FALSE(answered) << "the run finished before the client left (" << at_leave << " tokens in)";
  ASSERT_GT(at_leave, 0) << "the run never started";
  ASSERT_LT(at_leave, full_tokens / 2) << "the client left late";
  for (int i = 0; i < 3000; ++i) {
    const EngineStats stats = engine.stats();
    if (stats.active_sequences == 0 && stats.queue_depth == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The server looks at the socket every 50 ms: what it generates after the
  // client left is 50 ms of decoding and a scheduling delay, far less than
  // half of what was left; without cancellation it is all of it.
  const int64_t after_leave = engine.stats().generated_tokens - start_tokens - at_leave;
  EXPECT_LT(after_leave, (full_tokens - at_leave) / 2) << "the client left " << at_leave << " tokens in";
  EXPECT_EQ(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}})->status, 200);
}

TEST_F(RoutesTest, StreamClientThatLeavesCancelsAndServerGoesOn) {
  auto client = server_->client();
  int chunks = 0;
  json request = {{"prompt", kPrefix}, {"max_tokens", 400}, {"stream", true}, {"temperature", 1.0}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = request.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };  // hang up
  auto r = client->send(req);
  EXPECT_FALSE(r);  // the client cancelled
  EXPECT_GE(chunks, 1);
  EXPECT_EQ(server_->client()->Get("/health")->status, 200);
  EXPECT_EQ(post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 1}})->status, 200);
}

}  // namespace
}  // namespace flywheel::serve
