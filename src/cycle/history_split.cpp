#include "cycle/history_split.h"

#include <algorithm>
#include <cmath>

#include "data/git_handle.h"

namespace flywheel::cycle {

using data::git_message;

Result<std::vector<std::string>> first_parent_commits(const std::filesystem::path& repo) {
  data::init_libgit2();
  data::RepoPtr handle;
  if (git_repository_open_ext(handle.out(), repo.c_str(), 0, nullptr) != 0)
    return Status::invalid_argument(repo.string() + " is not a git repository: " + git_message());
  data::RevwalkPtr walk;
  if (git_revwalk_new(walk.out(), handle.get()) != 0 || git_revwalk_push_head(walk.get()) != 0)
    return Status::invalid_argument(repo.string() + " has no commits (HEAD does not resolve): " + git_message());
  git_revwalk_simplify_first_parent(walk.get());
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  std::vector<std::string> commits;
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &oid);
    commits.emplace_back(hex);
  }
  return commits;
}

Result<HistorySplit> split_history(const std::filesystem::path& repo, int slices, double holdout_fraction) {
  if (slices < 1) return Status::invalid_argument("at least one cycle is needed");
  if (!(holdout_fraction > 0 && holdout_fraction < 1))
    return Status::invalid_argument("the held-out share of history must be between 0 and 1");
  HistorySplit split;
  FW_ASSIGN_OR_RETURN(split.commits, first_parent_commits(repo));
  const auto n = static_cast<int64_t>(split.commits.size());
  // The root commit has no parent to diff against: slices start after it.
  const int64_t holdout = std::max<int64_t>(1, std::llround(static_cast<double>(n) * holdout_fraction));
  const int64_t usable = n - 1 - holdout;
  if (usable < slices)
    return Status::invalid_argument(repo.string() + " has " + std::to_string(n) +
                                    " commits on its first-parent line: "
                                    "too few for " +
                                    std::to_string(slices) + " cycles and a held-out set (needs " +
                                    std::to_string(slices + holdout + 1) + ")");
  // Slice i covers commits (begin, end]: begin is the last commit of the previous slice.
  int64_t begin = 0;
  for (int i = 1; i <= slices; ++i) {
    const int64_t end = usable * i / slices;
    split.slice_ranges.push_back(split.commits[begin] + ".." + split.commits[end]);
    split.slice_ends.push_back(split.commits[end]);
    begin = end;
  }
  split.holdout_range = split.commits[begin] + ".." + split.commits.back();
  return split;
}

}  // namespace flywheel::cycle
