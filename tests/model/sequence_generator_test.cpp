// SequenceGenerator's stopping rules with scripted logits: the token the
// script picks is the one sampled (greedy), so each rule sees exact text.
#include "model/sequence_generator.h"

#include <gtest/gtest.h>

#include "tests/common/tiny_model.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;

class SequenceGeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::path dir = fs::temp_directory_path() / ("flywheel_seqgen_test_" + std::to_string(getpid()));
    testing::make_tiny_model(dir);
    auto loaded = Model::load(dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    model_ = new Model(std::move(*loaded));
    fs::remove_all(dir);
  }
  static void TearDownTestSuite() { delete model_; }

  // Runs the generator over logits that pick `script`'s tokens in order.
  static std::pair<std::string, GenerationResult> run(GenerationRequest request, const std::string& script) {
    request.prompt = {5};
    request.params.temperature = 0;
    std::vector<TokenId> ids = model_->tokenizer().encode(script);
    SequenceGenerator generator(*model_, request);
    std::string streamed;
    for (TokenId id : ids) {
      if (generator.done()) break;
      std::vector<float> logits(static_cast<size_t>(model_->config().vocab_size), 0.0f);
      logits[id] = 10.0f;
      streamed += generator.next(logits);
    }
    return {streamed, generator.result()};
  }
  static Model* model_;
};
Model* SequenceGeneratorTest::model_ = nullptr;

TEST_F(SequenceGeneratorTest, MinTokenProbEndsBeforeTheFirstUnsureToken) {
  const std::vector<TokenId> ids = model_->tokenizer().encode("return x + 1;");
  ASSERT_GE(ids.size(), 3u);
  const auto vocab = static_cast<size_t>(model_->config().vocab_size);
  auto generate_with = [&](float threshold, size_t unsure_from) {
    GenerationRequest request;
    request.prompt = {5};
    request.params.temperature = 0;
    request.params.min_token_prob = threshold;
    SequenceGenerator generator(*model_, request);
    for (size_t i = 0; i < ids.size() && !generator.done(); ++i) {
      std::vector<float> logits(vocab, 0.0f);
      // Sure: e^10 against 511 ones (p ~ 0.98); unsure: e^1 (p ~ 0.005).
      logits[ids[i]] = i >= unsure_from ? 1.0f : 10.0f;
      generator.next(logits);
    }
    return generator.result();
  };
  GenerationResult cut = generate_with(0.5f, 2);
  EXPECT_EQ(cut.tokens, std::vector<TokenId>(ids.begin(), ids.begin() + 2));
  EXPECT_EQ(cut.finish_reason, "stop");
  EXPECT_TRUE(generate_with(0.5f, 0).text.empty());  // nothing sure: nothing to show
  EXPECT_EQ(generate_with(0.0f, 0).tokens, ids);     // off
  EXPECT_EQ(generate_with(0.001f, 2).tokens, ids);   // every token above a low bar
}

TEST_F(SequenceGeneratorTest, SingleLineStopsAtTheFirstNewlineAfterText) {
  GenerationRequest r;
  r.single_line = true;
  auto [text, result] = run(r, "return x + 1;\n  next line\n");
  EXPECT_EQ(text, "return x + 1;");
  EXPECT_EQ(result.text, text);
  EXPECT_EQ(result.finish_reason, "stop");
}

TEST_F(SequenceGeneratorTest, SingleLineKeepsLeadingLineBreaksAndIndentation) {
  GenerationRequest r;
  r.single_line = true;
  auto [text, result] = run(r, "\n    body();\n}\n");
  EXPECT_EQ(text, "\n    body();");
}

TEST_F(SequenceGeneratorTest, MultiLineRunsToTheBudget) {
  GenerationRequest r;
  r.params.max_tokens = 1000;
  auto [text, result] = run(r, "a\nb\nc");
  EXPECT_EQ(text, "a\nb\nc");
  EXPECT_EQ(result.finish_reason, "length");  // the script ran out; not done
}

TEST_F(SequenceGeneratorTest, StopStringsAreNeverShownEvenInSingleLineMode) {
  GenerationRequest r;
  r.single_line = true;
  r.params.stop = {"END"};
  auto [text, result] = run(r, "abc END\nrest");
  EXPECT_EQ(text, "abc ");
  EXPECT_EQ(result.finish_reason, "stop");
}

TEST_F(SequenceGeneratorTest, TheBudgetEndsGenerationWithLength) {
  GenerationRequest r;
  r.params.max_tokens = 2;
  auto [text, result] = run(r, "alpha beta gamma delta");
  EXPECT_EQ(result.tokens.size(), 2u);
  EXPECT_EQ(result.finish_reason, "length");
  EXPECT_EQ(text, result.text);
}

TEST_F(SequenceGeneratorTest, CancelKeepsTheReason) {
  GenerationRequest r;
  r.prompt = {5};
  SequenceGenerator generator(*model_, r);  // keeps a reference: r outlives it
  generator.cancel("superseded");
  EXPECT_TRUE(generator.done());
  EXPECT_EQ(generator.result().finish_reason, "superseded");
}

}  // namespace
}  // namespace flywheel
