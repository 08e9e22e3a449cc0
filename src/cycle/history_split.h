// Splitting a repository's history by time for the cycle: the first-parent
// commits from the root to HEAD, oldest first; the newest share held out for
// judging; the older ones cut into consecutive slices, one per cycle.
// Ranges are in replay's "OLDER..NEWER" form (OLDER excluded).
//
// Thread-safety: plain functions. Errors: not a repository, too few commits.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::cycle {

struct HistorySplit {
  std::vector<std::string> commits;       // first-parent, oldest first
  std::vector<std::string> slice_ranges;  // one per cycle
  std::vector<std::string> slice_ends;    // the last commit of each slice (the code trained on)
  std::string holdout_range;
};

Result<std::vector<std::string>> first_parent_commits(const std::filesystem::path& repo);
Result<HistorySplit> split_history(const std::filesystem::path& repo, int slices, double holdout_fraction);

}  // namespace flywheel::cycle
