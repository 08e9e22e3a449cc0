// The serving engine against generate(), the one-sequence reference:
// batching, the prompt cache and chunked prefill must not change a single
// token; cancellation, supersession, deadlines and drain end requests as
// documented.
#include "serve/engine.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "model/generate.h"
#include "model/show_head.h"
#include "tests/common/tiny_model.h"

namespace flywheel::serve {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<ServedModel> tiny_served_model() {
  static std::shared_ptr<ServedModel> model = [] {
    fs::path dir = fs::temp_directory_path() / ("flywheel_engine_test_" + std::to_string(getpid()));
    testing::make_tiny_model(dir);
    auto loaded = load_served_model(dir.string(), "tiny");
    EXPECT_TRUE(loaded.ok()) << loaded.status().to_string();
    fs::remove_all(dir);
    return *loaded;
  }();
  return model;
}

std::vector<TokenId> tokens_of(const ServedModel& m, const std::string& text) {
  return m.tokenizer().encode(text, /*add_special_tokens=*/false);
}

struct Outcome {
  Result<EngineResult> result = Status::internal("not finished");
  std::string streamed;
};

// Submits and returns a future of the outcome (text streamed through on_text too).
std::future<Outcome> submit(Engine& engine, EngineRequest request, std::function<bool(std::string_view)> on_text = {}) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto outcome = std::make_shared<Outcome>();
  auto future = promise->get_future();
  engine.submit(
      std::move(request),
      [outcome, on_text](std::string_view piece) {
        outcome->streamed += piece;
        return on_text ? on_text(piece) : true;
      },
      [promise, outcome](Result<EngineResult> result) {
        outcome->result = std::move(result);
        promise->set_value(std::move(*outcome));
      });
  return future;
}

EngineRequest request_for(const std::shared_ptr<ServedModel>& model, std::vector<TokenId> prompt, int max_tokens,
                          float temperature = 0, uint64_t seed = 1) {
  EngineRequest r;
  r.model = model;
  r.prompt = std::move(prompt);
  r.params.max_tokens = max_tokens;
  r.params.temperature = temperature;
  r.params.seed = seed;
  r.params.logprobs = 2;  // random tiny models pick the same argmax almost anywhere; logprobs show any drift
  return r;
}

// Same tokens, and log-probabilities within float noise of the reference.
void expect_same_generation(const EngineResult& got, const GenerationResult& expected, const std::string& what) {
  EXPECT_EQ(got.tokens, expected.tokens) << what;
  EXPECT_EQ(got.text, expected.text) << what;
  ASSERT_EQ(got.logprobs.size(), expected.logprobs.size()) << what;
  for (size_t i = 0; i < got.logprobs.size(); ++i) {
    EXPECT_NEAR(got.logprobs[i].logprob, expected.logprobs[i].logprob, 1e-4) << what << " token " << i;
    ASSERT_EQ(got.logprobs[i].top.size(), expected.logprobs[i].top.size());
    for (size_t k = 0; k < got.logprobs[i].top.size(); ++k)
      EXPECT_NEAR(got.logprobs[i].top[k].logprob, expected.logprobs[i].top[k].logprob, 1e-4) << what;
  }
}

GenerationResult reference(const ServedModel& m, const EngineRequest& r) {
  GenerationRequest g;
  g.prompt = r.prompt;
  g.params = r.params;
  g.stop_token_ids = r.stop_token_ids;
  g.single_line = r.single_line;
  auto result = generate(*m.model, g);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return *result;
}

const char* kTexts[] = {
    "int main(int argc, char** argv) {\n  return 0;\n}\n",
    "Status Model::load(const std::filesystem::path& dir) {",
    "#include <vector>\n#include <string>\n",
    "for (size_t i = 0; i < n; ++i) total += values[i];",
    "namespace flywheel {\nclass Sampler {\n public:\n",
    "// Returns the logits of every position",
    "auto cache = model.new_cache(capacity);",
    "std::unique_ptr<KvCache> cache;",
};

TEST(Engine, BatchedRequestsMatchOneAtATimeGeneration) {
  auto model = tiny_served_model();
  EngineOptions options;
  options.prefill_chunk = 7;  // several chunks per prompt, mixed with decodes of others
  Engine engine(options);
  std::vector<EngineRequest> requests;
  std::vector<std::future<Outcome>> futures;
  for (size_t i = 0; i < std::size(kTexts); ++i) {
    // Half greedy, half sampled with a seed: each sequence has its own sampler.
    requests.push_back(
        request_for(model, tokens_of(*model, kTexts[i]), 12 + static_cast<int>(i), i % 2 ? 0.8f : 0.f, 100 + i));
    futures.push_back(submit(engine, requests.back()));
  }
  for (size_t i = 0; i < futures.size(); ++i) {
    Outcome out = futures[i].get();
    ASSERT_TRUE(out.result.ok()) << out.result.status().to_string();
    GenerationResult expected = reference(*model, requests[i]);
    expect_same_generation(*out.result, expected, "request " + std::to_string(i));
    EXPECT_EQ(out.streamed, expected.text);
    EXPECT_EQ(out.result->finish_reason, expected.finish_reason);
    EXPECT_EQ(out.result->model_id, "tiny");
  }
  EXPECT_GT(engine.stats().steps, 0);
}

TEST(Engine, MinShowProbWithholdsBelowTheShowHeadsProbability) {
  const fs::path dir = fs::temp_directory_path() / ("flywheel_engine_head_test_" + std::to_string(getpid()));
  testing::make_tiny_model(dir);
  const ShowHead head = testing::add_show_head(dir, 0.05f, 0.1f);
  auto model = load_served_model(dir.string(), "tiny-head");
  fs::remove_all(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ASSERT_NE((*model)->model->show_head(), nullptr);
  EngineOptions options;
  options.prefill_chunk = 5;  // the probability comes from the last chunk's pass
  Engine engine(options);
  const std::vector<TokenId> prompt = tokens_of(**model, kTexts[0]);
  const float p = *show_probability(*(*model)->model, head, prompt);
  EngineRequest shown = request_for(*model, prompt, 6);
  shown.params.min_show_prob = std::max(p - 0.01f, 1e-6f);
  Outcome out = submit(engine, shown).get();
  ASSERT_TRUE(out.result.ok()) << out.result.status().to_string();
  ASSERT_TRUE(out.result->show_probability.has_value());
  EXPECT_NEAR(*out.result->show_probability, p, 1e-5);
  EXPECT_FALSE(out.result->withheld);
  expect_same_generation(*out.result, reference(**model, shown), "shown");
  EngineRequest withheld = shown;
  withheld.params.min_show_prob = std::min(p + 0.01f, 1.0f);
  out = submit(engine, withheld).get();
  ASSERT_TRUE(out.result.ok()) << out.result.status().to_string();
  EXPECT_TRUE(out.result->withheld);
  EXPECT_TRUE(out.result->tokens.empty());
  EXPECT_EQ(out.streamed, "");
  EXPECT_EQ(out.result->finish_reason, "stop");
}

TEST(Engine, PromptCacheReusesTheCommonPrefixWithoutChangingTheOutput) {
  auto model = tiny_served_model();
  Engine engine;
  std::string text = "void Engine::Impl::step() {\n  // Decodes first, then prompt chunks";
  auto first = submit(engine, request_for(model, tokens_of(*model, text), 8)).get();
  ASSERT_TRUE(first.result.ok());
  EXPECT_EQ(first.result->cached_tokens, 0);
  // The keystroke case: the same text, a few characters longer.
  EngineRequest next = request_for(model, tokens_of(*model, text + " in arr"), 8);
  auto second = submit(engine, next).get();
  ASSERT_TRUE(second.result.ok());
  EXPECT_GE(second.result->cached_tokens, static_cast<int64_t>(tokens_of(*model, text).size()) - 2);
  expect_same_generation(*second.result, reference(*model, next), "after a cache hit");
  auto stats = engine.stats();
  EXPECT_GT(stats.cached_prompt_tokens, 0);
  EXPECT_GE(stats.prompt_cache_entries, 1);
  EXPECT_GT(stats.prompt_cache_bytes, 0);
}

TEST(Engine, APromptCacheOfZeroBytesKeepsNothing) {
  auto model = tiny_served_model();
  EngineOptions options;
  options.prompt_cache_bytes = 0;
  Engine engine(options);
  auto prompt = tokens_of(*model, kTexts[0]);
  ASSERT_TRUE(submit(engine, request_for(model, prompt, 4)).get().result.ok());
  auto again = submit(engine, request_for(model, prompt, 4)).get();
  ASSERT_TRUE(again.result.ok());
  EXPECT_EQ(again.result->cached_tokens, 0);
  EXPECT_EQ(engine.stats().prompt_cache_entries, 0);
}

TEST(Engine, ANewerRequestOfTheSameSessionSupersedesTheOlder) {
  auto model = tiny_served_model();
  Engine engine;
  std::promise<void> first_text;
  bool signalled = false;
  EngineRequest slow = request_for(model, tokens_of(*model, kTexts[1]), 400);
  slow.supersede_key = "session-1";
  auto older = submit(engine, slow, [&](std::string_view) {
    if (!signalled) first_text.set_value();
    signalled = true;
    return true;
  });
  first_text.get_future().wait();
  EngineRequest newer = request_for(model, tokens_of(*model, kTexts[1]), 4);
  newer.supersede_key = "session-1";
  auto newest = submit(engine, newer);
  Outcome old_out = older.get();
  ASSERT_TRUE(old_out.result.ok());
  EXPECT_EQ(old_out.result->finish_reason, "superseded");
  EXPECT_LT(old_out.result->tokens.size(), 400u);
  ASSERT_TRUE(newest.get().result.ok());
}

TEST(Engine, OnTextReturningFalseCancels) {
  auto model = tiny_served_model();
  Engine engine;
  auto out = submit(engine, request_for(model, tokens_of(*model, kTexts[2]), 300), [](std::string_view) {
               return false;
             }).get();
  ASSERT_TRUE(out.result.ok());
  EXPECT_EQ(out.result->finish_reason, "cancelled");
  EXPECT_LT(out.result->tokens.size(), 300u);
}

TEST(Engine, DeadlineEndsTheRequest) {
  auto model = tiny_served_model();
  Engine engine;
  EngineRequest r = request_for(model, tokens_of(*model, kTexts[3]), 100000);
  r.params.max_tokens = 400;
  r.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  auto out = submit(engine, r).get();
  ASSERT_TRUE(out.result.ok());
  // On a fast machine all 400 tokens may fit in 30 ms; then it ends by length.
  EXPECT_TRUE(out.result->finish_reason == "deadline" || out.result->finish_reason == "length")
      << out.result->finish_reason;
  EngineRequest late = request_for(model, tokens_of(*model, kTexts[3]), 10);
  late.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  auto late_out = submit(engine, late).get();
  ASSERT_TRUE(late_out.result.ok());
  EXPECT_EQ(late_out.result->finish_reason, "deadline");
  EXPECT_TRUE(late_out.result->tokens.empty());
}

TEST(Engine, InvalidRequestsFailBeforeTheQueue) {
  auto model = tiny_served_model();
  Engine engine;
  auto empty = submit(engine, request_for(model, {}, 4)).get();
  EXPECT_EQ(empty.result.status().code(), StatusCode::kInvalidArgument);
  std::vector<TokenId> too_long(static_cast<size_t>(model->context_length), 5);
  auto long_out = submit(engine, request_for(model, too_long, 4)).get();
  EXPECT_EQ(long_out.result.status().code(), StatusCode::kOutOfRange);
  EngineRequest bad = request_for(model, {5, 6}, 4);
  bad.params.temperature = -1;
  EXPECT_EQ(submit(engine, bad).get().result.status().code(), StatusCode::kInvalidArgument);
  auto no_model = submit(engine, EngineRequest{}).get();
  EXPECT_EQ(no_model.result.status().code(), StatusCode::kInvalidArgument);
}

TEST(Engine, AFullQueueAnswersResourceExhausted) {
  auto model = tiny_served_model();
  EngineOptions options;
  options.max_queue = 2;
  options.max_batch = 1;
  Engine engine(options);
  std::vector<std::future<Outcome>> futures;
  for (int i = 0; i < 12; ++i) futures.push_back(submit(engine, request_for(model, tokens_of(*model, kTexts[4]), 50)));
  int exhausted = 0, ok = 0;
  for (auto& f : futures) {
    Outcome out = f.get();
    if (out.result.ok())
      ++ok;
    else if (out.result.status().code() == StatusCode::kResourceExhausted)
      ++exhausted;
  }
  EXPECT_GT(exhausted, 0);
  EXPECT_GE(ok, 2);
  EXPECT_EQ(ok + exhausted, 12);
}

TEST(Engine, DrainFinishesWhatIsInFlightAndRefusesNewWork) {
  auto model = tiny_served_model();
  Engine engine;
  std::vector<std::future<Outcome>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(submit(engine, request_for(model, tokens_of(*model, kTexts[i]), 20)));
  engine.drain(std::chrono::seconds(60));
  for (auto& f : futures) {
    Outcome out = f.get();
    ASSERT_TRUE(out.result.ok()) << out.result.status().to_string();
    EXPECT_NE(out.result->finish_reason, "cancelled");
  }
  auto refused = submit(engine, request_for(model, tokens_of(*model, kTexts[0]), 4)).get();
  EXPECT_EQ(refused.result.status().code(), StatusCode::kUnavailable);
}

TEST(Engine, DestroyingTheEngineFinishesEveryRequest) {
  auto model = tiny_served_model();
  std::vector<std::future<Outcome>> futures;
  {
    Engine engine;
    for (int i = 0; i < 6; ++i)
      futures.push_back(submit(engine, request_for(model, tokens_of(*model, kTexts[i]), 200)));
  }
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    Outcome out = f.get();
    ASSERT_TRUE(out.result.ok());
  }
}

}  // namespace
}  // namespace flywheel::serve
