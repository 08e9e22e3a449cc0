// The JSONL files the learn modes read (one object per line; the format
// `flywheel datasets build` writes from the event store):
//   preferences.jsonl  {"prompt": str, "chosen": str, "rejected": str}
//   unpaired.jsonl     {"prompt": str, "completion": str, "label": bool}
//   rewards.jsonl      {"prompt": str, "completion": str, "reward": number, "group": str}
//   prompts.jsonl      {"prompt": str[, "completion": str]}
// Blank lines are skipped; any other line that is not such an object is an
// error naming the file and line. Unknown extra fields are ignored.
//
// Thread-safety: pure functions.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flywheel::learn {

struct PreferenceRow {
  std::string prompt, chosen, rejected;
};
struct UnpairedRow {
  std::string prompt, completion;
  bool desirable = false;
};
struct RewardRow {
  std::string prompt, completion;
  double reward = 0;
  std::string group;
};
struct PromptRow {
  std::string prompt;
  std::optional<std::string> completion;
};

// `path` itself when it is a file, else path / `file_name` (the mode's file
// in a dataset directory).
Result<std::filesystem::path> resolve_rows_file(const std::filesystem::path& path, std::string_view file_name);

Result<std::vector<PreferenceRow>> read_preference_rows(const std::filesystem::path& file);
Result<std::vector<UnpairedRow>> read_unpaired_rows(const std::filesystem::path& file);
Result<std::vector<RewardRow>> read_reward_rows(const std::filesystem::path& file);
Result<std::vector<PromptRow>> read_prompt_rows(const std::filesystem::path& file);

// OK when `rows` (read from `file`) hold both labels. With one label only, a
// loss can only push every row the same way, so `objective` refuses it with
// the counts and what to do instead.
Status require_both_labels(const std::filesystem::path& file, const std::vector<UnpairedRow>& rows,
                           std::string_view objective);

}  // namespace flywheel::learn
