#include "eval/history.h"

#include <algorithm>
#include <string_view>

#include "data/git_handle.h"
#include "data/language.h"
#include "eval/typing.h"
#include "tokenizer/corpus_filter.h"

namespace flywheel::eval {
namespace fs = std::filesystem;
using data::git_message;

std::string ReplayHunk::prefix_at(size_t offset) const {
  std::string prefix;
  prefix.reserve(insert_at + typed_before.size() + offset);
  prefix.append(*parent, 0, insert_at);
  prefix += typed_before;
  prefix.append(text, 0, offset);
  return prefix;
}

std::string ReplayHunk::suffix() const { return parent->substr(resume_at); }

namespace {

// Keys of History::skipped.
constexpr std::string_view kSkipBinary = "binary";
constexpr std::string_view kSkipTooLarge = "too_large";
constexpr std::string_view kSkipDeleted = "deleted";
constexpr std::string_view kSkipNotAFile = "not_a_file";
constexpr std::string_view kSkipNoTrigger = "no_trigger";

struct Reader {
  const fs::path& path;
  const HistoryOptions& options;
  git_repository* repo = nullptr;
  git_odb* odb = nullptr;
  History* out = nullptr;

  Status error(const std::string& what) const {
    return Status::io_error("git repository '" + path.string() + "': " + what + ": " + git_message());
  }

  // Byte offset of the start of 1-based line `line` (text.size() past the end).
  static size_t line_start(const std::vector<size_t>& starts, size_t text_size, int64_t line) {
    if (line < 1) return 0;
    return static_cast<size_t>(line - 1) < starts.size() ? starts[static_cast<size_t>(line - 1)] : text_size;
  }

  static std::vector<size_t> line_starts(const std::string& text) {
    std::vector<size_t> starts;
    if (text.empty()) return starts;
    starts.push_back(0);
    for (size_t i = 0; i + 1 < text.size(); ++i)
      if (text[i] == '\n') starts.push_back(i + 1);
    return starts;
  }

  Result<uint64_t> object_size(const git_oid& id) {
    size_t size = 0;
    git_object_t type = GIT_OBJECT_ANY;
    if (git_odb_read_header(&size, &type, odb, &id) != 0) return error("cannot read object header");
    return static_cast<uint64_t>(size);
  }

  Result<std::string> blob_text(const git_oid& id) {
    data::BlobPtr blob;
    if (git_blob_lookup(blob.out(), repo, &id) != 0) return error("cannot read blob");
    const auto* bytes = static_cast<const char*>(git_blob_rawcontent(blob.get()));
    return std::string(bytes, static_cast<size_t>(git_blob_rawsize(blob.get())));
  }

  // One added block: split into pieces of at most max_hunk_lines lines.
  void add_block(const std::string& commit, const std::string& file_path, const std::string& language,
                 const std::shared_ptr<const std::string>& parent, size_t insert_at, size_t resume_at,
                 const std::string& added, int block) {
    std::string before;
    size_t start = 0;
    int piece = 0;
    while (start < added.size()) {
      size_t end = start;
      for (int lines = 0; lines < options.max_hunk_lines && end < added.size(); ++lines) {
        const size_t newline = added.find('\n', end);
        end = newline == std::string::npos ? added.size() : newline + 1;
      }
      ReplayHunk hunk;
      hunk.id = commit + ":" + file_path + ":" + std::to_string(block) + "." + std::to_string(piece++);
      hunk.commit = commit;
      hunk.path = file_path;
      hunk.language = language;
      hunk.parent = parent;
      hunk.insert_at = insert_at;
      hunk.resume_at = resume_at;
      hunk.typed_before = before;
      hunk.text = added.substr(start, end - start);
      hunk.typed_after = added.substr(end);
      before += hunk.text;
      start = end;
      if (trigger_points(hunk.text).empty()) {
        ++out->skipped[std::string(kSkipNoTrigger)];
        continue;
      }
      out->hunks.push_back(std::move(hunk));
    }
  }

  Status read_delta(const std::string& commit, git_diff* diff, size_t index) {
    const git_diff_delta* delta = git_diff_get_delta(diff, index);
    ++out->files;
    if (delta->status == GIT_DELTA_DELETED) {
      ++out->skipped[std::string(kSkipDeleted)];
      return Status::OK();
    }
    const auto is_file = [](uint16_t mode) {
      return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE || mode == GIT_FILEMODE_UNREADABLE;
    };
    const bool has_old = delta->status != GIT_DELTA_ADDED && delta->status != GIT_DELTA_UNTRACKED;
    if (!is_file(delta->new_file.mode) || (has_old && !is_file(delta->old_file.mode))) {
      ++out->skipped[std::string(kSkipNotAFile)];  // symlinks, submodules, type changes
      return Status::OK();
    }
    const std::string file_path = delta->new_file.path;
    if (has_binary_file_extension(fs::path(file_path))) {
      ++out->skipped[std::string(kSkipBinary)];
      return Status::OK();
    }
    FW_ASSIGN_OR_RETURN(uint64_t new_size, object_size(delta->new_file.id));
    uint64_t old_size = 0;
    if (has_old) {
      FW_ASSIGN_OR_RETURN(old_size, object_size(delta->old_file.id));
    }
    if (std::max(new_size, old_size) > options.max_file_bytes) {
      ++out->skipped[std::string(kSkipTooLarge)];
      return Status::OK();
    }
    if (delta->status == GIT_DELTA_RENAMED) ++out->renamed_files;

    data::PatchPtr patch;
    if (git_patch_from_diff(patch.out(), diff, index) != 0) return error("cannot diff '" + file_path + "'");
    if (patch.get() == nullptr || (git_patch_get_delta(patch.get())->flags & GIT_DIFF_FLAG_BINARY) != 0) {
      ++out->skipped[std::string(kSkipBinary)];
      return Status::OK();
    }
    auto parent = std::make_shared<std::string>();
    if (has_old) {
      FW_ASSIGN_OR_RETURN(*parent, blob_text(delta->old_file.id));
    }
    const std::vector<size_t> starts = line_starts(*parent);
    std::string language(data::language_from_path(file_path));

    int block = 0;
    const size_t hunks = git_patch_num_hunks(patch.get());
    for (size_t h = 0; h < hunks; ++h) {
      const git_diff_hunk* hunk = nullptr;
      size_t lines = 0;
      if (git_patch_get_hunk(&hunk, &lines, patch.get(), h) != 0) return error("cannot read a hunk");
      // The old line the next change comes after: a pure insertion's header
      // names the line before it, any other hunk its first line.
      int64_t last_old_line = hunk->old_lines == 0 ? hunk->old_start : hunk->old_start - 1;
      int64_t deleted = 0;
      std::string added;
      const auto flush = [&] {
        if (deleted == 0 && added.empty()) return;
        const size_t insert_at = line_start(starts, parent->size(), last_old_line + 1);
        const size_t resume_at = line_start(starts, parent->size(), last_old_line + 1 + deleted);
        if (!added.empty()) add_block(commit, file_path, language, parent, insert_at, resume_at, added, block++);
        last_old_line += deleted;
        deleted = 0;
        added.clear();
      };
      for (size_t l = 0; l < lines; ++l) {
        const git_diff_line* line = nullptr;
        if (git_patch_get_line_in_hunk(&line, patch.get(), h, l) != 0) return error("cannot read a diff line");
        switch (line->origin) {
          case GIT_DIFF_LINE_CONTEXT:
            flush();
            last_old_line = line->old_lineno;
            break;
          case GIT_DIFF_LINE_DELETION:
            if (!added.empty()) flush();  // a deletion after additions starts a new change
            ++deleted;
            break;
          case GIT_DIFF_LINE_ADDITION:
            added.append(line->content, line->content_len);
            break;
          default:  // "\ No newline at end of file" markers
            break;
        }
      }
      flush();
    }
    return Status::OK();
  }

  Status read_commit(const git_oid& id) {
    data::CommitPtr commit;
    if (git_commit_lookup(commit.out(), repo, &id) != 0) return error("cannot read commit");
    const std::string hex = git_oid_tostr_s(&id);
    data::TreePtr tree, parent_tree;
    if (git_commit_tree(tree.out(), commit.get()) != 0) return error("cannot read the tree of " + hex);
    if (git_commit_parentcount(commit.get()) > 0) {  // merges: against the first parent
      data::CommitPtr parent;
      if (git_commit_parent(parent.out(), commit.get(), 0) != 0) return error("cannot read the parent of " + hex);
      if (git_commit_tree(parent_tree.out(), parent.get()) != 0) return error("cannot read a tree");
    }
    git_diff_options diff_options;
    git_diff_options_init(&diff_options, GIT_DIFF_OPTIONS_VERSION);
    diff_options.context_lines = 0;  // each hunk is one change
    diff_options.interhunk_lines = 0;
    diff_options.flags |= GIT_DIFF_INDENT_HEURISTIC;
    data::DiffPtr diff;
    if (git_diff_tree_to_tree(diff.out(), repo, parent_tree.get(), tree.get(), &diff_options) != 0)
      return error("cannot diff " + hex);
    git_diff_find_options find;
    git_diff_find_options_init(&find, GIT_DIFF_FIND_OPTIONS_VERSION);
    find.flags = GIT_DIFF_FIND_RENAMES;
    if (git_diff_find_similar(diff.get(), &find) != 0) return error("cannot find renames in " + hex);
    ++out->commits;
    const size_t deltas = git_diff_num_deltas(diff.get());
    for (size_t i = 0; i < deltas; ++i) FW_RETURN_IF_ERROR(read_delta(hex, diff.get(), i));
    return Status::OK();
  }
};

}  // namespace

Result<History> read_history(const fs::path& path, const HistoryOptions& options) {
  data::init_libgit2();
  data::RepoPtr repo;
  if (git_repository_open_ext(repo.out(), path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return Status::not_found("'" + path.string() + "' is not a git repository: " + git_message());
  if (git_repository_is_empty(repo.get()) == 1)
    return Status::invalid_argument("git repository '" + path.string() + "' has no commits: nothing to replay");
  if (options.range.empty()) return Status::invalid_argument("--range is empty (give OLDER..NEWER)");

  git_revspec spec{};
  if (git_revparse(&spec, repo.get(), options.range.c_str()) != 0)
    return Status::invalid_argument("git repository '" + path.string() + "': cannot resolve range '" + options.range +
                                    "': " + git_message());
  data::ObjectPtr from, to;  // own what git_revparse returned
  from.p = spec.from;
  to.p = spec.to;
  if ((spec.flags & GIT_REVSPEC_MERGE_BASE) != 0)
    return Status::invalid_argument("range '" + options.range + "': use OLDER..NEWER, not '...'");

  data::RevwalkPtr walk;
  if (git_revwalk_new(walk.out(), repo.get()) != 0)
    return Status::io_error("git repository '" + path.string() + "': " + git_message());
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  git_revwalk_simplify_first_parent(walk.get());
  const auto peel = [&](git_object* object, git_oid* id) {
    data::ObjectPtr commit;
    if (git_object_peel(commit.out(), object, GIT_OBJECT_COMMIT) != 0) return false;
    *id = *git_object_id(commit.get());
    return true;
  };
  git_oid newest, oldest;
  git_object* newest_object = (spec.flags & GIT_REVSPEC_RANGE) != 0 ? spec.to : spec.from;
  if (newest_object == nullptr || !peel(newest_object, &newest))
    return Status::invalid_argument("range '" + options.range + "' does not name a commit: " + git_message());
  if (git_revwalk_push(walk.get(), &newest) != 0)
    return Status::io_error("git repository '" + path.string() + "': " + git_message());
  if ((spec.flags & GIT_REVSPEC_RANGE) != 0) {
    if (spec.from == nullptr || !peel(spec.from, &oldest))
      return Status::invalid_argument("range '" + options.range + "' does not name a commit: " + git_message());
    if (git_revwalk_hide(walk.get(), &oldest) != 0)
      return Status::io_error("git repository '" + path.string() + "': " + git_message());
  }

  History history;
  fs::path name = fs::absolute(path).lexically_normal();
  if (!name.has_filename()) name = name.parent_path();
  history.repo_name = name.filename().string();
  Reader reader{path, options, repo.get(), nullptr, &history};
  data::OdbPtr odb;
  if (git_repository_odb(odb.out(), repo.get()) != 0) return reader.error("cannot open the object database");
  reader.odb = odb.get();
  git_oid id;
  while (git_revwalk_next(&id, walk.get()) == 0) FW_RETURN_IF_ERROR(reader.read_commit(id));
  if (history.commits == 0)
    return Status::invalid_argument("range '" + options.range +
                                    "' selects no commits (the order is OLDER..NEWER, OLDER excluded)");
  return history;
}

}  // namespace flywheel::eval
