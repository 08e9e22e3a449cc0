#include "cycle/promotion.h"

#include <cstdio>

namespace flywheel::cycle {

Result<PromotionDecision> decide_promotion(const eval::ReplayReport& cand, const eval::ReplayReport& base,
                                           const eval::ReplayReport& start, const PromotionRule& rule) {
  PromotionDecision d;
  FW_ASSIGN_OR_RETURN(d.comparison,
                      eval::compare_reports(cand, base, eval::ReplayMetric::kAcceptance, 1000, rule.seed));
  const eval::ReportComparison& cmp = d.comparison;
  const double gain = cmp.relative_gain ? cmp.relative_gain->value : (cmp.difference.value > 0 ? 1.0 : 0.0);
  char buf[256];
  std::snprintf(buf, sizeof buf, "acceptance %.4f vs %.4f (difference %+.4f, 95%% interval %+.4f..%+.4f)",
                cmp.candidate, cmp.baseline, cmp.difference.value, cmp.difference.low, cmp.difference.high);
  // Each guard holds against the serving model and against the run's
  // starting model: against the serving model alone, every cycle could
  // give up a share (20% of the characters saved by default) and still be
  // promoted, compounding over cycles.
  const auto shows_too_few = [&](const eval::ReplayReport& other, const char* name) {
    if (static_cast<double>(cand.totals.shown) >= rule.min_shown_ratio * static_cast<double>(other.totals.shown))
      return false;
    std::snprintf(buf, sizeof buf, "%lld suggestions shown against the %s's %lld (at least %.0f%% needed)",
                  static_cast<long long>(cand.totals.shown), name, static_cast<long long>(other.totals.shown),
                  100 * rule.min_shown_ratio);
    d.reason = std::string("shows too few: ") + buf;
    return true;
  };
  const auto saves_too_little = [&](const eval::ReplayReport& other, const char* name) {
    if (cand.rates.chars_saved.value >= rule.min_chars_saved_ratio * other.rates.chars_saved.value) return false;
    std::snprintf(buf, sizeof buf,
                  "%.2f%% of typed characters saved against the %s's %.2f%% (at least %.0f%% of it needed)",
                  100 * cand.rates.chars_saved.value, name, 100 * other.rates.chars_saved.value,
                  100 * rule.min_chars_saved_ratio);
    d.reason = std::string("saves too little: ") + buf;
    return true;
  };
  if (shows_too_few(base, "serving model") || shows_too_few(start, "starting model") ||
      saves_too_little(base, "serving model") || saves_too_little(start, "starting model"))
    return d;  // refused: d.reason says why
  if (cmp.difference.value <= 0 || gain < rule.margin) {
    d.reason = std::string("no gain: ") + buf;
  } else if (rule.require_significance && (cmp.paired_commits < 2 || cmp.difference.low <= 0)) {
    // One commit is one cluster: every resample is the same, and the
    // interval is the point estimate, which says nothing of significance.
    d.reason = std::string("not significant: ") + buf + (cmp.paired_commits < 2 ? " on a single commit" : "");
  } else {
    d.promoted = true;
    d.reason = std::string("wins: ") + buf;
  }
  return d;
}

}  // namespace flywheel::cycle
