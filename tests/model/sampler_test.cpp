// Sampler and StopMatcher: greedy choice, reproducibility, the distributions
// that temperature/top-k/top-p/min-p leave (checked by chi-square over many
// draws against probabilities computed here by hand), penalties against a
// hand computation, log-probability normalization, and parameter validation.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace flywheel {
namespace {

// Logits whose softmax is exactly `probs`.
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(p > 0 ? static_cast<float>(std::log(p)) : -INFINITY);
  return out;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double max = -INFINITY;
  for (float l : logits) max = std::max(max, static_cast<double>(l));
  std::vector<double> p;
  double sum = 0;
  for (float l : logits) {
    p.push_back(std::exp((l - max) / temperature));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

std::vector<double> renormalized(std::vector<double> p, const std::set<int>& keep) {
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!keep.count(static_cast<int>(i))) p[i] = 0;
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  return p;
}

// Draws `n` tokens and checks the counts against `expected` probabilities:
// tokens with probability 0 must never appear, and Pearson's chi-square over
// the rest must stay below the 0.1% critical value for its degrees of freedom.
void expect_distribution(const SamplingParams& params, const std::vector<float>& logits,
                         const std::vector<double>& expected, int n = 60000) {
  Sampler sampler(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(sampler.sample(logits).id)];
  double chi2 = 0;
  int categories = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been filtered out";
      continue;
    }
    const double e = expected[i] * n;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++categories;
  }
  // Chi-square 0.999 quantiles for 1..6 degrees of freedom.
  static const double kCritical[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46};
  const int dof = categories - 1;
  ASSERT_GE(dof, 0);
  ASSERT_LE(dof, 6);
  if (dof > 0) {
    EXPECT_LT(chi2, kCritical[dof]) << "counts do not follow the expected distribution";
  }
}

SamplingParams seeded(uint64_t seed = 1234) {
  SamplingParams p;
  p.seed = seed;
  return p;
}

TEST(Sampler, GreedyPicksArgmaxWithTiesToLowestId) {
  SamplingParams p = seeded();
  p.temperature = 0;
  Sampler s(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, -5.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(logits).id, 1);
  // Greedy ignores the truncation filters but sees penalties.
  p.top_k = 1;
  p.top_p = 0.1f;
  p.repetition_penalty = 2.0f;
  Sampler penalized(p);
  const std::vector<TokenId> context = {1};
  EXPECT_EQ(penalized.sample(logits, context).id, 3);
}

TEST(Sampler, LogitBiasIsAddedBeforeChoosing) {
  SamplingParams p = seeded();
  p.temperature = 0;
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, -5.0f};
  p.logit_bias = {{3, 100.0f}};
  EXPECT_EQ(Sampler(p).sample(logits).id, 3);
  p.logit_bias = {{1, -100.0f}, {9, 50.0f}};  // an id past the logits is ignored here
  EXPECT_EQ(Sampler(p).sample(logits).id, 2);
  p.temperature = 1;
  p.logit_bias = {{0, 100.0f}};
  Sampler sampled(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sampled.sample(logits).id, 0);  // p(others) < e^-90
  p.logit_bias = {{0, 100.5f}};
  EXPECT_FALSE(p.validate().ok());
  p.logit_bias = {{-1, 1.0f}};
  EXPECT_FALSE(p.validate().ok());
}

TEST(Sampler, GreedyLogprobIsLogSoftmaxOfPenalizedLogits) {
  SamplingParams p = seeded();
  p.temperature = 0;
  p.logprobs = 3;
  Sampler s(p);
  const std::vector<float> logits = {0.5f, 2.0f, 1.0f, -1.0f};
  const auto probs = softmax(logits);
  const SampledToken t = s.sample(logits);
  EXPECT_EQ(t.id, 1);
  EXPECT_NEAR(t.logprob, std::log(probs[1]), 1e-6);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].id, 1);
  EXPECT_EQ(t.top[1].id, 2);
  EXPECT_EQ(t.top[2].id, 0);
  EXPECT_NEAR(t.top[1].logprob, std::log(probs[2]), 1e-6);
  EXPECT_NEAR(t.top[2].logprob, std::log(probs[0]), 1e-6);
}

TEST(Sampler, SameSeedSameSequence) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0, 2);
  std::vector<float> logits(1000);
  for (float& l : logits) l = normal(gen);
  SamplingParams p = seeded(42);
  p.temperature = 1.3f;
  p.top_p = 0.95f;
  Sampler a(p), b(p);
  std::vector<TokenId> sa, sb;
  for (int i = 0; i < 200; ++i) {
    sa.push_back(a.sample(logits).id);
    sb.push_back(b.sample(logits).id);
  }
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(a.seed(), 42u);

  Sampler c(seeded(43));
  std::vector<TokenId> sc;
  for (int i = 0; i < 200; ++i) sc.push_back(c.sample(logits).id);
  EXPECT_NE(sa, sc);

  // Unseeded samplers draw their seed from random_device.
  SamplingParams unseeded;
  Sampler d(unseeded), e(unseeded);
  EXPECT_NE(d.seed(), e.seed());
}

TEST(Sampler, TemperatureOneFollowsSoftmax) {
  const auto logits = logits_for({0.4, 0.3, 0.2, 0.1});
  expect_distribution(seeded(1), logits, {0.4, 0.3, 0.2, 0.1});
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f};
  for (float t : {0.5f, 1.7f}) {
    SamplingParams p = seeded(2);
    p.temperature = t;
    expect_distribution(p, logits, softmax(logits, t));
  }
}

TEST(Sampler, TopKKeepsTheKMostLikely) {
  const auto logits = logits_for({0.1, 0.4, 0.05, 0.3, 0.15});
  SamplingParams p = seeded(3);
  p.top_k = 2;
  expect_distribution(p, logits, renormalized(softmax(logits), {1, 3}));
  // top_k past the vocabulary size is a no-op.
  p.top_k = 50;
  expect_distribution(p, logits, softmax(logits));
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  const auto logits = logits_for({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = seeded(4);
  p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8: tokens 0 and 1
  expect_distribution(p, logits, renormalized(softmax(logits), {0, 1}));
  p.top_p = 0.82f;  // needs the third token
  expect_distribution(p, logits, renormalized(softmax(logits), {0, 1, 2}));
  p.top_p = 0.0f;  // only the most likely
  expect_distribution(p, logits, {1, 0, 0, 0}, 2000);
}

TEST(Sampler, TopPRunsOnTheTopKRenormalizedDistribution) {
  // Alone, top_p 0.82 keeps 3 tokens (0.5 + 0.3 < 0.82). After top-k 3 the
  // probabilities are 0.526, 0.316, 0.158: 0.842 >= 0.82 keeps 2.
  const auto logits = logits_for({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = seeded(5);
  p.top_k = 3;
  p.top_p = 0.82f;
  expect_distribution(p, logits, renormalized(softmax(logits), {0, 1}));
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  const auto logits = logits_for({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = seeded(6);
  p.min_p = 0.2f;  // threshold 0.1
  expect_distribution(p, logits, renormalized(softmax(logits), {0, 1, 2}));
  // min-p applies after temperature: at T=2 the probabilities flatten
  // (sqrt of the above, renormalized) and 0.05 passes 0.2 * max.
  p.temperature = 2.0f;
  expect_distribution(p, logits, softmax(logits, 2.0));
}

TEST(Sampler, PenaltiesMatchAHandComputation) {
  SamplingParams p = seeded();
  p.repetition_penalty = 1.5f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p);
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  // Prompt [0, 1]; generated [3, 3, 1]; 99 is out of the vocabulary and ignored.
  const std::vector<TokenId> context = {0, 1, 3, 3, 1, 99};
  s.apply_penalties(logits, context, 2);
  // Repetition on {0, 1, 3} (prompt and output): 2/1.5, -1*1.5, 3/1.5.
  // Presence and frequency on generated {3: 2 times, 1: once}:
  //   3: 2 - 0.5 - 2*0.25 = 1.0;  1: -1.5 - 0.5 - 0.25 = -2.25.
  const std::vector<float> want = {2.0f / 1.5f, -2.25f, 0.5f, 1.0f, 0.0f};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(logits[i], want[i], 1e-6) << "token " << i;

  // The whole context counts as generated when prompt_length is 0.
  std::vector<float> again = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  s.apply_penalties(again, context, 0);
  EXPECT_NEAR(again[0], 2.0f / 1.5f - 0.5f - 0.25f, 1e-6);

  // sample() uses exactly these logits: its log-probabilities (greedy: T=1,
  // no truncation) are the log-softmax of the penalized values.
  p.temperature = 0;
  p.logprobs = 5;
  Sampler g(p);
  const std::vector<float> original = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  const SampledToken t = g.sample(original, context, 2);
  const auto probs = softmax(want);
  EXPECT_EQ(t.id, 0);
  ASSERT_EQ(t.top.size(), 5u);
  for (const auto& alt : t.top) EXPECT_NEAR(alt.logprob, std::log(probs[static_cast<size_t>(alt.id)]), 1e-5);
}

TEST(Sampler, NegativePresencePenaltyEncouragesRepeats) {
  SamplingParams p = seeded();
  p.presence_penalty = -1.0f;
  Sampler s(p);
  std::vector<float> logits = {0.0f, 0.0f};
  const std::vector<TokenId> context = {1};
  s.apply_penalties(logits, context, 0);
  EXPECT_FLOAT_EQ(logits[1], 1.0f);
  EXPECT_FLOAT_EQ(logits[0], 0.0f);
}

TEST(Sampler, LogprobsAreNormalizedOverWhatSurvives) {
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0, 1.5);
  std::vector<float> logits(12);
  for (float& l : logits) l = normal(gen);

  for (int top_k : {0, 4}) {
    SamplingParams p = seeded(9);
    p.temperature = 0.8f;
    p.top_k = top_k;
    p.logprobs = 20;
    Sampler s(p);
    for (int i = 0; i < 20; ++i) {
      const SampledToken t = s.sample(logits);
      ASSERT_EQ(t.top.size(), top_k == 0 ? logits.size() : static_cast<size_t>(top_k));
      double sum = 0;
      bool found = false;
      for (size_t j = 0; j < t.top.size(); ++j) {
        sum += std::exp(t.top[j].logprob);
        if (j > 0) {
          EXPECT_GE(t.top[j - 1].logprob, t.top[j].logprob);
        }
        if (t.top[j].id == t.id) {
          found = true;
          EXPECT_FLOAT_EQ(t.top[j].logprob, t.logprob);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
      EXPECT_TRUE(found) << "the chosen token is among the survivors";
    }
  }
  // Temperature enters the reported distribution.
  SamplingParams p = seeded(9);
  p.temperature = 0.5f;
  p.logprobs = 1;
  Sampler s(p);
  const auto probs = softmax(logits, 0.5);
  const SampledToken t = s.sample(logits);
  EXPECT_NEAR(t.logprob, std::log(probs[static_cast<size_t>(t.id)]), 1e-5);
}

TEST(Sampler, LargeVocabularyNucleusEqualsBruteForce) {
  // A 151936-token vocabulary shaped like a language model's: a few likely
  // tokens and a long tail.
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> logits(151936);
  for (float& l : logits) l = normal(gen);

  SamplingParams p = seeded(17);
  p.temperature = 0.7f;
  p.top_p = 0.9f;
  p.logprobs = 5;
  // Brute force: full sort, the smallest prefix reaching 0.9.
  const auto probs = softmax(logits, 0.7);
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  double mass = 0;
  std::set<int> nucleus;
  for (int id : order) {
    mass += probs[static_cast<size_t>(id)];
    nucleus.insert(id);
    if (mass >= 0.9) break;
  }

  Sampler s(p);
  const auto start = std::chrono::steady_clock::now();
  const int draws = 50;
  for (int i = 0; i < draws; ++i) {
    const SampledToken t = s.sample(logits);
    ASSERT_TRUE(nucleus.count(t.id)) << "token " << t.id << " is outside the nucleus";
    EXPECT_NEAR(t.logprob, std::log(probs[static_cast<size_t>(t.id)] / mass), 1e-4);
    ASSERT_EQ(t.top.size(), 5u);
    EXPECT_EQ(t.top[0].id, order[0]);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / draws;
  std::printf("sample() over %zu logits with top_p %.2f (nucleus %zu): %.2f ms\n", logits.size(), p.top_p,
              nucleus.size(), ms);

  // top-k 40 on the same logits: only the 40 best can come out.
  p.top_p = 1.0f;
  p.top_k = 40;
  Sampler k(p);
  const std::set<int> best40(order.begin(), order.begin() + 40);
  for (int i = 0; i < draws; ++i) ASSERT_TRUE(best40.count(k.sample(logits).id));
}

TEST(Sampler, LargeVocabularyMinPAndTopKMatchBruteForce) {
  std::mt19937 gen(8);
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> logits(151936);
  for (float& l : logits) l = normal(gen);
  const float max = *std::max_element(logits.begin(), logits.end());

  SamplingParams p = seeded(21);
  p.min_p = 0.05f;
  p.logprobs = 3;
  Sampler s(p);
  double kept_mass = 0;  // at T=1: p_i >= 0.05 * p_max
  const auto probs = softmax(logits);
  const double p_max = *std::max_element(probs.begin(), probs.end());
  for (double q : probs)
    if (q >= 0.05 * p_max) kept_mass += q;
  for (int i = 0; i < 50; ++i) {
    const SampledToken t = s.sample(logits);
    ASSERT_GE(logits[static_cast<size_t>(t.id)], max + std::log(0.05f) - 1e-5f);
    EXPECT_NEAR(t.logprob, std::log(probs[static_cast<size_t>(t.id)] / kept_mass), 1e-4);
  }
}

TEST(Sampler, TiesInTopLogprobsGoToLowerIds) {
  SamplingParams p = seeded();
  p.temperature = 0;
  p.logprobs = 3;
  Sampler s(p);
  const SampledToken t = s.sample(std::vector<float>{1.0f, 2.0f, 0.5f, 2.0f, 2.0f, 2.0f});
  EXPECT_EQ(t.id, 1);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].id, 1);
  EXPECT_EQ(t.top[1].id, 3);
  EXPECT_EQ(t.top[2].id, 4);
}

TEST(Sampler, MaskedLogitsAreNeverChosenOrReported) {
  // -inf masks (e.g. banned tokens); top_k larger than what is left.
  std::vector<float> logits(100, -INFINITY);
  logits[7] = 0.0f;
  logits[42] = 0.0f;
  SamplingParams p = seeded(3);
  p.top_k = 5;
  p.logprobs = 5;
  Sampler s(p);
  std::set<TokenId> seen;
  for (int i = 0; i < 200; ++i) {
    const SampledToken t = s.sample(logits);
    seen.insert(t.id);
    EXPECT_NEAR(t.logprob, std::log(0.5), 1e-6);
    ASSERT_EQ(t.top.size(), 2u);
  }
  EXPECT_EQ(seen, (std::set<TokenId>{7, 42}));
  // +inf wins outright.
  logits[50] = INFINITY;
  Sampler u(seeded(4));
  const SampledToken t = u.sample(logits);
  EXPECT_EQ(t.id, 50);
  EXPECT_EQ(t.logprob, 0.0f);
}

TEST(Sampler, NanLogitsAreNeverChosen) {
  SamplingParams p = seeded();
  Sampler s(p);
  const std::vector<float> logits = {NAN, 0.0f, NAN};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits).id, 1);
}

TEST(SamplingParams, DefaultsAreValid) { EXPECT_TRUE(SamplingParams{}.validate().is_ok()); }

TEST(SamplingParams, ValidateNamesTheBadField) {
  struct Case {
    const char* field;
    void (*set)(SamplingParams&);
  };
  const Case cases[] = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.1f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = 2.5f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = NAN; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -1; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = -0.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.01f; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = INFINITY; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3.0f; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 21; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = -1; }},
      {"max_tokens", [](SamplingParams& p) { p.max_tokens = 0; }},
      {"min_token_prob", [](SamplingParams& p) { p.min_token_prob = 1.5f; }},
      {"stop[1]",
       [](SamplingParams& p) {
         p.stop = {"x", ""};
       }},
      {"stop has", [](SamplingParams& p) { p.stop.assign(65, "x"); }},
  };
  for (const auto& c : cases) {
    SamplingParams p;
    c.set(p);
    const Status s = p.validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
  SamplingParams edges;
  edges.temperature = 2.0f;
  edges.top_p = 0.0f;
  edges.min_p = 1.0f;
  edges.presence_penalty = -2.0f;
  edges.frequency_penalty = 2.0f;
  edges.logprobs = 20;
  edges.max_tokens = 1;
  edges.stop = {"\n\n", "```"};
  EXPECT_TRUE(edges.validate().is_ok()) << edges.validate().to_string();
  SamplingParams bad;
  bad.top_p = 3.0f;
  EXPECT_EQ(bad.validate().message(), "top_p = 3 is out of range: it must be between 0 and 1 (1 disables top-p)");
}

// ---- StopMatcher ----

// Feeds the pieces; returns what was emitted, with "|" between push results.
std::string run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& piece : pieces) {
    auto r = m.push(piece);
    out += r.text + "|";
    if (r.stopped) return out + "STOP";
  }
  return out + m.finish();
}

TEST(StopMatcher, StopSplitAcrossPieces) {
  StopMatcher m({"\n\ndef "});
  EXPECT_EQ(run(m, {"return x", "\n", "\nde", "f foo"}), "return x||||STOP");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "\n\ndef ");
  // Nothing after a stop.
  EXPECT_TRUE(m.push("more").stopped);
  EXPECT_EQ(m.push("more").text, "");
  EXPECT_EQ(m.finish(), "");
}

TEST(StopMatcher, TextBeforeTheStopInTheSamePieceIsEmitted) {
  StopMatcher m({"```"});
  EXPECT_EQ(run(m, {"a = 1", "\n``", "`\nmore"}), "a = 1|\n||STOP");
}

TEST(StopMatcher, HeldBackTextIsReleasedWhenItIsNotAStop) {
  StopMatcher m({"</end>"});
  auto r = m.push("x </e");
  EXPECT_EQ(r.text, "x ");
  EXPECT_EQ(m.held_bytes(), 3u);
  r = m.push("nd");
  EXPECT_EQ(r.text, "");
  r = m.push("x>");  // "</endx>" is not the stop
  EXPECT_EQ(r.text, "</endx>");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(m.held_bytes(), 0u);
  // Held text at the end comes out of finish().
  r = m.push("<");
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(m.finish(), "<");
}

TEST(StopMatcher, EarliestStopWinsAndOverlapsAreHeld) {
  StopMatcher m({"abc", "bcd", "\n"});
  EXPECT_EQ(run(m, {"xab", "cd"}), "x||STOP");
  EXPECT_EQ(m.matched(), "abc");
  StopMatcher n({"abcd", "c"});
  EXPECT_EQ(run(n, {"ab", "c"}), "|ab|STOP");
  EXPECT_EQ(n.matched(), "c");
  // A repeated stop prefix: "aab" with stop "ab" holds one "a" at a time.
  StopMatcher o({"ab"});
  EXPECT_EQ(run(o, {"a", "a", "a", "b"}), "|a|a||STOP");
}

TEST(StopMatcher, NoStopsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(run(m, {"a", "b"}), "a|b|");
  StopMatcher empty_strings({"", ""});
  EXPECT_EQ(run(empty_strings, {"a"}), "a|");
}

TEST(StopMatcher, StopAtTheVeryStartEmitsNothing) {
  StopMatcher m({"\n\n"});
  EXPECT_EQ(run(m, {"\n\nfoo"}), "|STOP");
}

TEST(StopMatcher, MultibyteStopHoldsWholeCharacters) {
  StopMatcher m({"→ done"});
  auto r = m.push("a →");
  EXPECT_EQ(r.text, "a ");
  r = m.push(" d");
  EXPECT_EQ(r.text, "");
  r = m.push("é");
  EXPECT_EQ(r.text, "→ dé");
}

}  // namespace
}  // namespace flywheel
