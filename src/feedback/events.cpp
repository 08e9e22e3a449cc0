#include "feedback/events.h"

#include <array>
#include <chrono>
#include <utility>

namespace flywheel::feedback {
namespace {

constexpr std::array<std::pair<OutcomeKind, std::string_view>, 5> kOutcomeNames = {{
    {OutcomeKind::kShown, "shown"},
    {OutcomeKind::kAccepted, "accepted"},
    {OutcomeKind::kPartiallyAccepted, "partially_accepted"},
    {OutcomeKind::kRejected, "rejected"},
    {OutcomeKind::kIgnored, "ignored"},
}};

}  // namespace

std::string_view outcome_kind_name(OutcomeKind kind) {
  for (const auto& [k, name] : kOutcomeNames)
    if (k == kind) return name;
  return "unknown";
}

Result<OutcomeKind> outcome_kind_from_name(std::string_view name) {
  for (const auto& [kind, n] : kOutcomeNames)
    if (n == name) return kind;
  return Status::invalid_argument("unknown outcome kind '" + std::string(name) +
                                  "' (expected shown, accepted, partially_accepted, rejected or ignored)");
}

Result<OutcomeKind> outcome_kind_from_tabby(std::string_view type, std::string_view select_kind) {
  if (type == "view") return OutcomeKind::kShown;
  if (type == "select") return select_kind == "line" ? OutcomeKind::kPartiallyAccepted : OutcomeKind::kAccepted;
  if (type == "dismiss") return OutcomeKind::kRejected;
  return Status::invalid_argument("unknown Tabby event type '" + std::string(type) +
                                  "' (expected view, select or dismiss)");
}

int64_t unix_millis_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace flywheel::feedback
