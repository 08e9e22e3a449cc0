// The promotion rule of a cycle (cycle.h): a candidate judged on the held-out
// hunks is promoted only when its acceptance rate beats the serving model's
// (by the margin, and with require_significance outside the paired
// interval), and it passes the guards against showing less. Private to the
// cycle module.
//
// Thread-safety: a pure function.
// Errors: compare_reports' (the reports share no hunk).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "eval/replay.h"

namespace flywheel::cycle {

struct PromotionRule {
  double margin = 0.0;
  bool require_significance = true;
  double min_shown_ratio = 0.1;
  double min_chars_saved_ratio = 0.8;
  uint64_t seed = 0;  // of the paired bootstrap
};

struct PromotionDecision {
  bool promoted = false;
  std::string reason;
  eval::ReportComparison comparison;  // acceptance, candidate against the serving model
};

// `start` is the run's starting model judged on the same hunks.
Result<PromotionDecision> decide_promotion(const eval::ReplayReport& candidate, const eval::ReplayReport& serving,
                                           const eval::ReplayReport& start, const PromotionRule& rule);

}  // namespace flywheel::cycle
