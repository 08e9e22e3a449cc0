// Reading the hunks to replay out of a git repository (libgit2): the commits
// of a range along first parents, each diffed against its first parent with
// rename detection, each added block of lines cut into pieces a simulated
// developer types. Private to the eval module.
//
// Thread-safety: read_history opens its own repository handle; the result
// is plain data (parents are shared read-only between the pieces of a file).
// Errors: not a repository, no commits, a range that does not resolve or
// selects no commit, unreadable objects; each names the repository.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::eval {

// One piece of an added block: `text` is typed into the parent's file at
// `insert_at`, after `typed_before` (earlier pieces of the same block); the
// parent's text from `resume_at` on (the lines the block replaced are gone)
// stays after the cursor. Pieces always start at a line start.
// `typed_after` is the block's text after the piece (its later pieces): a
// suggestion is judged against the rest of the block, so one that runs
// correctly into the next piece is not cut short at the piece's end.
struct ReplayHunk {
  std::string id;  // "<commit>:<path>:<block>.<piece>"
  std::string commit, path, language;
  std::shared_ptr<const std::string> parent;
  size_t insert_at = 0, resume_at = 0;
  std::string typed_before;
  std::string text;
  std::string typed_after;

  std::string prefix_at(size_t offset) const;  // file text before the cursor at text[offset]
  std::string suffix() const;
};

struct History {
  std::string repo_name;  // the repository folder's name
  int64_t commits = 0;
  int64_t files = 0;
  int64_t renamed_files = 0;
  std::map<std::string, int64_t> skipped;
  std::vector<ReplayHunk> hunks;  // commit order (oldest first), then diff order
};

struct HistoryOptions {
  std::string range;  // see ReplayOptions::range
  uint64_t max_file_bytes = 1 << 20;
  int max_hunk_lines = 10;
};

Result<History> read_history(const std::filesystem::path& repo, const HistoryOptions& options);

}  // namespace flywheel::eval
