// Bootstrap intervals over hunks: they hold the point estimate, narrow with
// more data, repeat for a seed, and compare paired reports.
#include "eval/bootstrap.h"

#include <gtest/gtest.h>

namespace flywheel::eval {
namespace {

// Hunks whose acceptance alternates between 1/4 and 3/4 with some noise.
std::vector<ReplayCounts> synthetic_hunks(int n) {
  std::vector<ReplayCounts> hunks;
  for (int i = 0; i < n; ++i) {
    ReplayCounts c;
    c.hunks = 1;
    c.requests = c.shown = 4 + i % 3;
    c.accepted = (i % 2 == 0 ? 1 : 3) + (i % 5 == 0 ? 1 : 0);
    c.rejected = c.shown - c.accepted;
    c.suggested_chars = 40 + i % 7;
    c.accepted_chars = 10 * c.accepted;
    c.typed_chars = 100;
    c.chars_saved = c.accepted_chars - c.accepted;
    c.exact_lines = c.accepted / 2;
    hunks.push_back(c);
  }
  return hunks;
}

std::vector<const ReplayCounts*> pointers(const std::vector<ReplayCounts>& v) {
  std::vector<const ReplayCounts*> out;
  for (const ReplayCounts& c : v) out.push_back(&c);
  return out;
}

TEST(Bootstrap, IntervalHoldsThePointEstimateAndRepeatsForASeed) {
  const auto hunks = synthetic_hunks(40);
  const ReplayRates a = estimate_rates(pointers(hunks), 1000, 7);
  const ReplayRates b = estimate_rates(pointers(hunks), 1000, 7);
  for (ReplayMetric m : {ReplayMetric::kAcceptance, ReplayMetric::kCharAcceptance, ReplayMetric::kCharsSaved,
                         ReplayMetric::kExactLine}) {
    const RateEstimate& e = a.get(m);
    EXPECT_LT(e.low, e.value) << replay_metric_name(m);
    EXPECT_GT(e.high, e.value) << replay_metric_name(m);
    EXPECT_EQ(e.low, b.get(m).low);
    EXPECT_EQ(e.high, b.get(m).high);
  }
  ReplayCounts total;
  for (const auto& h : hunks) total.add(h);
  EXPECT_DOUBLE_EQ(a.acceptance.value, static_cast<double>(total.accepted) / static_cast<double>(total.shown));
}

TEST(Bootstrap, NarrowsWithMoreHunks) {
  const auto few = synthetic_hunks(20), many = synthetic_hunks(320);
  const RateEstimate small = estimate_rates(pointers(few), 1000, 1).acceptance;
  const RateEstimate large = estimate_rates(pointers(many), 1000, 1).acceptance;
  // 16 times the data: about a quarter of the width.
  EXPECT_LT(large.high - large.low, 0.4 * (small.high - small.low));
}

TEST(Bootstrap, NoSuggestionsGiveZeros) {
  std::vector<ReplayCounts> hunks(3);
  const ReplayRates r = estimate_rates(pointers(hunks), 100, 0);
  EXPECT_EQ(r.acceptance.value, 0);
  EXPECT_EQ(r.acceptance.low, 0);
  EXPECT_EQ(r.acceptance.high, 0);
}

TEST(Bootstrap, QuantileInterpolates) {
  std::vector<double> v = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 3);
  EXPECT_DOUBLE_EQ(quantile(v, 0.25), 2);
  EXPECT_DOUBLE_EQ(quantile(v, 0.1), 1.4);
}

TEST(PairedBootstrap, BetterCandidateHasAPositiveInterval) {
  const auto base = synthetic_hunks(60);
  auto better = base;
  for (ReplayCounts& c : better) {
    c.accepted = std::min(c.shown, c.accepted + 1);
    c.rejected = c.shown - c.accepted;
  }
  const PairedEstimate e = paired_bootstrap(pointers(better), pointers(base), ReplayMetric::kAcceptance, 1000, 3);
  EXPECT_GT(e.difference.low, 0);
  EXPECT_TRUE(e.relative_defined);
  EXPECT_GT(e.relative_gain.low, 0);
  EXPECT_LE(e.relative_gain.low, e.relative_gain.value);
  EXPECT_GE(e.relative_gain.high, e.relative_gain.value);
  const PairedEstimate same = paired_bootstrap(pointers(base), pointers(base), ReplayMetric::kAcceptance, 200, 3);
  EXPECT_EQ(same.difference.value, 0);
  EXPECT_EQ(same.difference.low, 0);
  EXPECT_EQ(same.difference.high, 0);
}

TEST(Metrics, NamesRoundTrip) {
  for (ReplayMetric m : {ReplayMetric::kAcceptance, ReplayMetric::kCharAcceptance, ReplayMetric::kCharsSaved,
                         ReplayMetric::kExactLine}) {
    auto back = replay_metric_from_name(replay_metric_name(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
  auto unknown = replay_metric_from_name("speed");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("acceptance_rate"), std::string::npos);
}

}  // namespace
}  // namespace flywheel::eval
