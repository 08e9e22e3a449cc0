// Training data from the event store (`flywheel datasets build`): what the
// developers kept, what they turned down, and the reward of each suggestion.
//
// From each suggestion and its outcomes:
// - kept text: the outcome's final_text when known (what was actually
//   written at the cursor), else the accepted part of the suggestion.
// - sft.jsonl: FIM examples at the real cursor, completion = kept text.
// - preferences.jsonl: kept text ≻ the suggestion, when it was rejected (or
//   only partly accepted) and the kept text differs from it.
// - unpaired.jsonl: the suggestion, label true if accepted, false if rejected.
// - rewards.jsonl: the suggestion with its reward: +0.75 accepted, +0.75 × the
//   accepted share when partially accepted, −0.25 rejected, 0 shown and
//   ignored (Cursor's published rule for Tab); `group` names the cursor point
//   (same prefix and suffix), so several samples there get group advantages.
// Rows are deduplicated (same prompt and text), and split by time: events
// from `valid_since_ms` on go to the valid/ folder, older ones to train/.
//
// The prompt text is the model's FIM layout, which the feedback module does
// not know: the caller passes a renderer (the CLI builds it from the model's
// prompt format).
//
// Thread-safety: a plain function. Errors: the store's, or the output folder's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/status.h"
#include "feedback/store.h"

namespace flywheel::feedback {

struct FimContext {
  std::string prefix, suffix, path, language, repo;
};
using PromptRenderer = std::function<Result<std::string>(const FimContext&)>;

struct DatasetOptions {
  std::string tenant;
  int64_t since_ms = 0;
  std::optional<int64_t> until_ms;
  std::string source;                     // "" = editor and replay
  std::string session;                    // "" = any; else one session's events (a replay run)
  std::optional<int64_t> valid_since_ms;  // unset: no valid split
  std::filesystem::path out;
  PromptRenderer render;
};

struct DatasetStats {
  int64_t suggestions = 0, with_outcome = 0;
  int64_t accepted = 0, partially_accepted = 0, rejected = 0, ignored = 0;
  // rows written per file, e.g. {"train/sft.jsonl": 120, ...}
  std::map<std::string, int64_t> rows;
  int64_t duplicates_dropped = 0;
};

Result<DatasetStats> build_datasets(Store& store, const DatasetOptions& options);

}  // namespace flywheel::feedback
