// The event schema (DESIGN.md "Events"): what was suggested, and what the
// developer did with it. These records are what the flywheel learns from.
//
// Append-only: a suggestion is written once when it is served (or replayed),
// outcomes arrive later and refer to it by id. Tabby's view/select/dismiss
// map onto outcome kinds (see outcome_kind_from_tabby).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel::feedback {

// A completion that a model produced for an editor (or for replay).
struct SuggestionEvent {
  std::string id;                            // unique (e.g. "cmpl-<random hex>"), chosen by the server
  std::string tenant;                        // "" when auth is off
  std::string model_id;                      // the checkpoint that produced it
  std::string source = "editor";             // "editor" or "replay"
  std::string session;                       // editor session / replay run, optional
  std::string repo, path, language;          // optional context
  int64_t cursor = 0;                        // byte offset of the cursor in the file, when known
  std::string prefix_hash, suffix_hash;      // sha256 hex of the full prefix / suffix
  std::string prefix_window, suffix_window;  // the text near the cursor (bounded, e.g. 2 KB each)
  std::string text;                          // the suggestion (choice 0; other choices are separate events)
  int choice_index = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  double latency_ms = 0;
  int64_t shown_at_ms = 0;  // unix time in milliseconds

  bool operator==(const SuggestionEvent&) const = default;
};

enum class OutcomeKind { kShown, kAccepted, kPartiallyAccepted, kRejected, kIgnored };

std::string_view outcome_kind_name(OutcomeKind kind);  // "shown", "accepted", ...
Result<OutcomeKind> outcome_kind_from_name(std::string_view name);
// Tabby: "view" -> shown, "select" -> accepted (partially_accepted when
// select_kind == "line"), "dismiss" -> rejected.
Result<OutcomeKind> outcome_kind_from_tabby(std::string_view type, std::string_view select_kind);

struct OutcomeEvent {
  std::string suggestion_id;
  std::string tenant;  // must equal the suggestion's tenant (a tenant never touches another's events)
  OutcomeKind kind = OutcomeKind::kShown;
  int choice_index = 0;
  int64_t accepted_length = 0;            // bytes kept, for partial accepts (full length for accepts)
  std::optional<std::string> final_text;  // what the developer actually kept, when known
  int64_t at_ms = 0;                      // unix time in milliseconds
};

int64_t unix_millis_now();

}  // namespace flywheel::feedback
