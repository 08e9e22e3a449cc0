// ReplayCounts and the metrics defined over them (replay.h).
#include <array>

#include "eval/replay.h"

namespace flywheel::eval {
namespace {

constexpr std::array<std::pair<ReplayMetric, std::string_view>, 4> kMetricNames = {{
    {ReplayMetric::kAcceptance, "acceptance_rate"},
    {ReplayMetric::kCharAcceptance, "char_acceptance"},
    {ReplayMetric::kCharsSaved, "chars_saved_per_char"},
    {ReplayMetric::kExactLine, "exact_line_rate"},
}};

}  // namespace

void ReplayCounts::add(const ReplayCounts& o) {
  hunks += o.hunks;
  requests += o.requests;
  shown += o.shown;
  accepted += o.accepted;
  partially_accepted += o.partially_accepted;
  rejected += o.rejected;
  suggested_chars += o.suggested_chars;
  accepted_chars += o.accepted_chars;
  typed_chars += o.typed_chars;
  chars_saved += o.chars_saved;
  exact_lines += o.exact_lines;
}

std::string_view replay_metric_name(ReplayMetric metric) {
  for (const auto& [m, name] : kMetricNames)
    if (m == metric) return name;
  return "acceptance_rate";
}

Result<ReplayMetric> replay_metric_from_name(std::string_view name) {
  std::string known;
  for (const auto& [m, n] : kMetricNames) {
    if (n == name) return m;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  return Status::invalid_argument("unknown replay metric '" + std::string(name) + "' (known: " + known + ")");
}

std::pair<int64_t, int64_t> metric_fraction(const ReplayCounts& c, ReplayMetric metric) {
  switch (metric) {
    case ReplayMetric::kAcceptance:
      return {c.accepted, c.shown};
    case ReplayMetric::kCharAcceptance:
      return {c.accepted_chars, c.suggested_chars};
    case ReplayMetric::kCharsSaved:
      return {c.chars_saved, c.typed_chars};
    case ReplayMetric::kExactLine:
      return {c.exact_lines, c.shown};
  }
  return {0, 0};
}

const RateEstimate& ReplayRates::get(ReplayMetric metric) const {
  switch (metric) {
    case ReplayMetric::kAcceptance:
      return acceptance;
    case ReplayMetric::kCharAcceptance:
      return char_acceptance;
    case ReplayMetric::kCharsSaved:
      return chars_saved;
    case ReplayMetric::kExactLine:
      return exact_line;
  }
  return acceptance;
}

std::string_view suggestion_outcome_name(SuggestionOutcome outcome) {
  switch (outcome) {
    case SuggestionOutcome::kNotShown:
      return "not_shown";
    case SuggestionOutcome::kAccepted:
      return "accepted";
    case SuggestionOutcome::kPartiallyAccepted:
      return "partially_accepted";
    case SuggestionOutcome::kRejected:
      return "rejected";
  }
  return "rejected";
}

}  // namespace flywheel::eval
