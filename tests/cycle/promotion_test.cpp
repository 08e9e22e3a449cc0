// The promotion rule: the acceptance gain decides, and the guards refuse a
// candidate that shows or saves too little, against the serving model and
// against the run's starting model (so that losses cannot compound).
#include "cycle/promotion.h"

#include <gtest/gtest.h>

namespace flywheel::cycle {
namespace {

// A judge report over 40 hunks (one commit each, or all of one commit): `shown` suggestions in
// all, `accepted` of them accepted, `saved` of 100 typed characters saved
// per hunk. Hunk i shows a suggestion when i < shown, accepted when i < accepted.
eval::ReplayReport report(int shown, int accepted, int saved, bool one_commit = false) {
  eval::ReplayReport r;
  for (int i = 0; i < 40; ++i) {
    eval::HunkRecord h;
    h.commit = one_commit ? "c" : "c" + std::to_string(i);
    h.id = "c" + std::to_string(i) + ":a.py:0.0";
    h.counts.hunks = h.counts.requests = 1;
    h.counts.shown = i < shown ? 1 : 0;
    h.counts.accepted = i < accepted ? 1 : 0;
    h.counts.rejected = h.counts.shown - h.counts.accepted;
    h.counts.typed_chars = 100;
    h.counts.chars_saved = saved;
    r.totals.add(h.counts);
    r.hunks.push_back(h);
  }
  r.rates.acceptance.value = r.totals.shown ? static_cast<double>(r.totals.accepted) / r.totals.shown : 0;
  r.rates.chars_saved.value = static_cast<double>(r.totals.chars_saved) / r.totals.typed_chars;
  return r;
}

PromotionRule rule() {
  PromotionRule r;
  r.require_significance = false;
  return r;  // min_shown_ratio 0.1, min_chars_saved_ratio 0.8 (the defaults)
}

// Expects `candidate` refused with a reason that starts with `reason`, and
// names the starting model when `against_start`.
void expect_refused(const eval::ReplayReport& candidate, const eval::ReplayReport& serving,
                    const eval::ReplayReport& start, const std::string& reason, bool against_start) {
  auto d = decide_promotion(candidate, serving, start, rule());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_FALSE(d->promoted) << d->reason;
  EXPECT_EQ(d->reason.rfind(reason, 0), 0u) << d->reason;
  EXPECT_EQ(d->reason.find("starting model") != std::string::npos, against_start) << d->reason;
}

TEST(Promotion, AWinnerThatKeepsItsShareIsPromoted) {
  const auto start = report(40, 10, 30), serving = start, candidate = report(40, 20, 30);
  auto d = decide_promotion(candidate, serving, start, rule());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_TRUE(d->promoted) << d->reason;
  EXPECT_EQ(d->reason.rfind("wins", 0), 0u) << d->reason;
}

TEST(Promotion, SavingTooLittleAgainstTheServingModelIsRefused) {
  const auto start = report(40, 10, 30), serving = start;
  const auto candidate = report(40, 20, 23);  // 77% of the serving model's characters saved
  expect_refused(candidate, serving, start, "saves too little", false);
}

TEST(Promotion, SavingTooLittleAgainstTheStartingModelIsRefusedThoughTheServingModelLostToo) {
  // Each step keeps 85% of the characters saved of the one before (above the
  // 80% floor against the serving model), but the candidate keeps only 72%
  // of what the run started with.
  const auto start = report(40, 10, 50), serving = report(40, 15, 42), candidate = report(40, 20, 36);
  expect_refused(candidate, serving, start, "saves too little", true);
}

TEST(Promotion, ShowingTooFewAgainstTheServingModelIsRefused) {
  const auto start = report(40, 4, 0), serving = start;
  const auto candidate = report(3, 3, 0);  // 3 shown against 40: under 10%
  expect_refused(candidate, serving, start, "shows too few", false);
}

TEST(Promotion, ShowingTooFewAgainstTheStartingModelIsRefusedThoughTheServingModelShowsLittleToo) {
  // The serving model already shows 15 of the starting model's 40; the
  // candidate's 3 are 20% of that but under 10% of the start.
  const auto start = report(40, 4, 0), serving = report(15, 2, 0), candidate = report(3, 3, 0);
  expect_refused(candidate, serving, start, "shows too few", true);
}

TEST(Promotion, NoGainAndNotSignificantAreRefused) {
  const auto start = report(40, 10, 30);
  auto d = decide_promotion(start, start, start, rule());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->promoted);
  EXPECT_EQ(d->reason.rfind("no gain", 0), 0u) << d->reason;
  PromotionRule strict = rule();
  strict.require_significance = true;
  d = decide_promotion(report(40, 11, 30), start, start, strict);  // one more accept in 40 hunks
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->promoted);
  EXPECT_EQ(d->reason.rfind("not significant", 0), 0u) << d->reason;
}

TEST(Promotion, AGainOnASingleCommitIsNotSignificant) {
  // 20 of 40 accepted against 10: a clear gain over hunks, but the hunks
  // are one commit, one cluster, whose interval is only its point.
  PromotionRule strict = rule();
  strict.require_significance = true;
  auto d = decide_promotion(report(40, 20, 30, true), report(40, 10, 30, true), report(40, 10, 30, true), strict);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->promoted);
  EXPECT_EQ(d->reason.rfind("not significant", 0), 0u) << d->reason;
  EXPECT_EQ(d->comparison.paired_commits, 1);
  d = decide_promotion(report(40, 20, 30), report(40, 10, 30), report(40, 10, 30), strict);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->promoted) << d->reason;  // the same counts over 40 commits
}

}  // namespace
}  // namespace flywheel::cycle
