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

// Two reports over `commits` commits of `hunks_per_commit` hunks, one shown
// suggestion per hunk. Each commit goes wholly to one side (its hunks
// succeed or fail together, as hunks of one change do): the candidate is
// accepted on all of them and the baseline on none, or the reverse, with
// probability 1/2, so the true difference is 0.
std::pair<ReplayReport, ReplayReport> commit_correlated_reports(int commits, int hunks_per_commit, uint64_t seed) {
  ReplayReport candidate, baseline;
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int c = 0; c < commits; ++c) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const bool candidate_wins = (state >> 33) & 1;
    for (int h = 0; h < hunks_per_commit; ++h) {
      HunkRecord record;
      record.commit = "commit" + std::to_string(c);
      record.id = record.commit + ":f:" + std::to_string(h) + ".0";
      record.counts.hunks = record.counts.requests = record.counts.shown = 1;
      HunkRecord other = record;
      (candidate_wins ? record : other).counts.accepted = 1;
      (candidate_wins ? other : record).counts.rejected = 1;
      candidate.hunks.push_back(record);
      baseline.hunks.push_back(other);
    }
  }
  return {candidate, baseline};
}

TEST(PairedBootstrap, ResamplesCommitsNotHunks) {
  // Two commits, one won by each side, 20 hunks each: a resample draws the
  // same commit twice with probability 1/2, giving a difference of +1 or -1,
  // so the 95% interval is [-1, 1]. Resampling the 40 hunks as independent
  // would give about +-0.3.
  ReplayReport candidate, baseline;
  for (int c = 0; c < 2; ++c) {
    for (int h = 0; h < 20; ++h) {
      HunkRecord record;
      record.commit = "commit" + std::to_string(c);
      record.id = record.commit + ":f:" + std::to_string(h) + ".0";
      record.counts.hunks = record.counts.requests = record.counts.shown = 1;
      HunkRecord other = record;
      (c == 0 ? record : other).counts.accepted = 1;
      (c == 0 ? other : record).counts.rejected = 1;
      candidate.hunks.push_back(record);
      baseline.hunks.push_back(other);
    }
  }
  auto cmp = compare_reports(candidate, baseline, ReplayMetric::kAcceptance, 1000, 5);
  ASSERT_TRUE(cmp.ok()) << cmp.status().to_string();
  EXPECT_EQ(cmp->difference.value, 0);
  EXPECT_DOUBLE_EQ(cmp->difference.low, -1);
  EXPECT_DOUBLE_EQ(cmp->difference.high, 1);
}

TEST(PairedBootstrap, IntervalCoversWhenHunksOfACommitMoveTogether) {
  // 300 simulated judge sets of 30 commits x 4 hunks whose true difference is
  // 0: the 95% interval must hold 0 in about 95% of them. The percentile
  // bootstrap over 30 clusters undercovers a little (about 93%); with 300
  // sets the binomial standard deviation is 1.5 points, so 85% is more than
  // 5 of them below. Resampling hunks, which treats the 4 hunks of a commit
  // as independent, halves the interval's width and covers about 65%.
  int covered = 0;
  constexpr int kSets = 300;
  for (int s = 0; s < kSets; ++s) {
    auto [candidate, baseline] = commit_correlated_reports(30, 4, static_cast<uint64_t>(s));
    auto cmp = compare_reports(candidate, baseline, ReplayMetric::kAcceptance, 400, static_cast<uint64_t>(s));
    ASSERT_TRUE(cmp.ok());
    covered += cmp->difference.low <= 0 && 0 <= cmp->difference.high ? 1 : 0;
  }
  RecordProperty("covered", covered);
  EXPECT_GE(covered, kSets * 85 / 100) << covered << " of " << kSets;
}

TEST(Bootstrap, CommitSumsAddTheHunksOfEachCommitInFirstSeenOrder) {
  std::vector<HunkRecord> hunks(4);
  const char* commits[] = {"b", "a", "b", "c"};
  for (size_t i = 0; i < hunks.size(); ++i) {
    hunks[i].commit = commits[i];
    hunks[i].counts.shown = static_cast<int64_t>(i + 1);
  }
  std::vector<const HunkRecord*> records;
  for (const HunkRecord& h : hunks) records.push_back(&h);
  const std::vector<ReplayCounts> sums = commit_sums(records);
  ASSERT_EQ(sums.size(), 3u);
  EXPECT_EQ(sums[0].shown, 1 + 3);  // b
  EXPECT_EQ(sums[1].shown, 2);      // a
  EXPECT_EQ(sums[2].shown, 4);      // c
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
