// What a cycle's judge report depends on, as the key of its cache
// (work_dir/judge/<key>.json): the model's weights (by content, never its
// path or registry id) and every setting that changes the report. A redone
// cycle's new weights, or a new seed, min_token_prob, min_show_prob or hunk
// count, is judged afresh. Private to the cycle module.
//
// Thread-safety: pure functions. Errors: weights_hash's (a file that cannot
// be read; a missing model.safetensors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/status.h"

namespace flywheel::cycle {

// The version of the judging rules (docs/replay.md): a change to how
// suggestions are judged or intervals computed makes old reports stale.
// 2: suggestions judged against the rest of their block; commits resampled.
inline constexpr int kJudgeRules = 2;

// SHA-256 over a checkpoint directory's model.safetensors, config.json and
// tokenizer.json (a missing config or tokenizer counts as absent).
Result<std::string> weights_hash(const std::filesystem::path& model_dir);

struct JudgeSettings {
  std::string range;  // the held-out range
  std::string set;    // "decision" or "report" (cycle.cpp's two samples)
  int64_t hunks = 0;
  uint64_t seed = 0;
  float min_token_prob = 0, min_show_prob = 0;
};

// 24 hex digits of SHA-256 over the weights' hash, the settings, the replay
// and generation defaults the judge runs with, and kJudgeRules.
std::string judge_key(const std::string& weights_hash, const JudgeSettings& settings);

}  // namespace flywheel::cycle
