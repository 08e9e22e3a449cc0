#include "data/source.h"

#include <fcntl.h>
#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "core/file_system.h"
#include "core/hash.h"
#include "data/filters.h"
#include "data/git_handle.h"
#include "data/language.h"
#include "tokenizer/corpus_filter.h"

namespace flywheel::data {
namespace fs = std::filesystem;
namespace {

std::string name_of(const fs::path& path) {
  fs::path p = path;
  if (!p.has_filename()) p = p.parent_path();  // "repo/" -> "repo"
  std::string name = p.filename().string();
  if (name.size() > 4 && name.ends_with(".git")) name.resize(name.size() - 4);
  return name;
}

std::array<unsigned char, 20> to_array(const git_oid& oid) {
  std::array<unsigned char, 20> out{};
  std::memcpy(out.data(), oid.id, 20);
  return out;
}

git_oid to_oid(const std::array<unsigned char, 20>& id) {
  git_oid oid;
  std::memcpy(oid.id, id.data(), 20);
  return oid;
}

bool has_vendored_component(std::string_view path) {
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) return false;  // the last component is the file
    if (is_skipped_corpus_directory(path.substr(start, slash - start))) return true;
    start = slash + 1;
  }
}

// The name-only checks; true when the file should be read.
bool admit_by_name(std::string_view path, const FilterOptions& filter, std::string& language, ListingStats& stats) {
  if (has_binary_file_extension(fs::path(std::string(path)))) {
    ++stats.skipped[std::string(kSkipBinary)];
    return false;
  }
  language = std::string(language_from_path(path));
  if (language.empty() && !filter.keep_unknown_languages) {
    const size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (name.find('.') != std::string_view::npos) {  // an extension nobody knows; no #! check
      ++stats.skipped[std::string(kSkipUnknownLanguage)];
      return false;
    }
  }
  return true;
}

Status list_directory(uint32_t index, const Source& source, const FilterOptions& filter, std::vector<Candidate>& out,
                      ListingStats& stats) {
  std::vector<Candidate> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(source.path, fs::directory_options::skip_permission_denied, ec);
  if (ec) return status_from_errno("cannot list source folder '" + source.path.string() + "'", ec.value());
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return status_from_errno("cannot list source folder '" + source.path.string() + "'", ec.value());
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    if (entry.is_symlink(type_ec)) {
      if (!entry.is_directory(type_ec)) {
        ++stats.files_seen;
        ++stats.skipped[std::string(kSkipSymlink)];
      }
      continue;  // never followed: a link may point out of the source, or in a loop
    }
    if (entry.is_directory(type_ec)) {
      if (is_skipped_corpus_directory(entry.path().filename().string())) {
        ++stats.skipped[std::string(kSkipVendored)];
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!entry.is_regular_file(type_ec)) continue;
    ++stats.files_seen;
    Candidate c;
    c.source = index;
    c.path = entry.path().lexically_relative(source.path).generic_string();
    if (!admit_by_name(c.path, filter, c.language, stats)) continue;
    c.size = entry.file_size(type_ec);
    found.push_back(std::move(c));
  }
  std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) { return a.path < b.path; });
  for (auto& c : found) out.push_back(std::move(c));
  return Status::OK();
}

Status git_error(const Source& source, const std::string& what) {
  return Status::io_error("git repository '" + source.path.string() + "': " + what + ": " + git_message());
}

struct TreeWalk {
  uint32_t index;
  const FilterOptions* filter;
  std::vector<Candidate>* out;
  ListingStats* stats;
  std::unordered_set<std::string>* seen;  // blob ids already listed
};

int tree_walk_callback(const char* root, const git_tree_entry* entry, void* payload) {
  auto* w = static_cast<TreeWalk*>(payload);
  const char* name = git_tree_entry_name(entry);
  const git_object_t type = git_tree_entry_type(entry);
  if (type == GIT_OBJECT_TREE) {
    if (is_skipped_corpus_directory(name)) {
      ++w->stats->skipped[std::string(kSkipVendored)];
      return 1;  // skip the subtree
    }
    return 0;
  }
  if (type != GIT_OBJECT_BLOB) return 0;  // submodules
  ++w->stats->files_seen;
  if (git_tree_entry_filemode(entry) == GIT_FILEMODE_LINK) {
    ++w->stats->skipped[std::string(kSkipSymlink)];
    return 0;
  }
  const git_oid* oid = git_tree_entry_id(entry);
  std::string key(reinterpret_cast<const char*>(oid->id), 20);
  if (!w->seen->insert(key).second) {  // the same content at another path: one copy is enough
    ++w->stats->skipped[std::string(kSkipExactDuplicate)];
    return 0;
  }
  Candidate c;
  c.source = w->index;
  c.path = std::string(root) + name;
  if (!admit_by_name(c.path, *w->filter, c.language, *w->stats)) return 0;
  c.is_blob = true;
  c.blob = to_array(*oid);
  w->out->push_back(std::move(c));
  return 0;
}

Status list_git(uint32_t index, const Source& source, bool history, const FilterOptions& filter,
                std::vector<Candidate>& out, ListingStats& stats) {
  init_libgit2();
  RepoPtr repo;
  if (git_repository_open_ext(repo.out(), source.path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
    return git_error(source, "cannot open");
  git_oid commit_id;
  if (git_oid_fromstr(&commit_id, source.commit.c_str()) != 0) return git_error(source, "bad commit id");
  CommitPtr commit;
  if (git_commit_lookup(commit.out(), repo.get(), &commit_id) != 0)
    return git_error(source, "cannot read commit " + source.commit);
  TreePtr tree;
  if (git_commit_tree(tree.out(), commit.get()) != 0)
    return git_error(source, "cannot read the tree of " + source.commit);

  std::unordered_set<std::string> seen;
  TreeWalk walk{index, &filter, &out, &stats, &seen};
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, tree_walk_callback, &walk) < 0)
    return git_error(source, "cannot walk the tree of " + source.commit);
  if (!history) return Status::OK();

  // Older versions: along the first-parent chain, the blobs each commit's
  // parent had where the commit changed or removed a file.
  git_diff_options options;
  git_diff_options_init(&options, GIT_DIFF_OPTIONS_VERSION);
  options.flags |= GIT_DIFF_SKIP_BINARY_CHECK;
  CommitPtr child;
  std::swap(child.p, commit.p);
  TreePtr child_tree;
  std::swap(child_tree.p, tree.p);
  while (git_commit_parentcount(child.get()) > 0) {
    CommitPtr parent;
    if (git_commit_parent(parent.out(), child.get(), 0) != 0)
      return git_error(source, "cannot read the parent of " + std::string(git_oid_tostr_s(git_commit_id(child.get()))));
    TreePtr parent_tree;
    if (git_commit_tree(parent_tree.out(), parent.get()) != 0) return git_error(source, "cannot read a tree");
    DiffPtr diff;
    if (git_diff_tree_to_tree(diff.out(), repo.get(), parent_tree.get(), child_tree.get(), &options) != 0)
      return git_error(source, "cannot diff commits");
    const size_t deltas = git_diff_num_deltas(diff.get());
    for (size_t i = 0; i < deltas; ++i) {
      const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
      if (d->status != GIT_DELTA_MODIFIED && d->status != GIT_DELTA_DELETED && d->status != GIT_DELTA_TYPECHANGE)
        continue;
      const git_diff_file& f = d->old_file;
      if (f.mode != GIT_FILEMODE_BLOB && f.mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
        if (f.mode == GIT_FILEMODE_LINK) {
          ++stats.files_seen;
          ++stats.skipped[std::string(kSkipSymlink)];
        }
        continue;
      }
      std::string key(reinterpret_cast<const char*>(f.id.id), 20);
      if (!seen.insert(key).second) continue;
      ++stats.files_seen;
      const std::string path = f.path;
      if (has_vendored_component(path)) {
        ++stats.skipped[std::string(kSkipVendored)];
        continue;
      }
      Candidate c;
      c.source = index;
      c.path = path;
      if (!admit_by_name(c.path, filter, c.language, stats)) continue;
      c.is_blob = true;
      c.blob = to_array(f.id);
      out.push_back(std::move(c));
    }
    std::swap(child.p, parent.p);
    std::swap(child_tree.p, parent_tree.p);
  }
  return Status::OK();
}

Status read_path(const fs::path& path, uint64_t max_bytes, std::string& text, bool* too_large) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return status_from_errno("cannot open '" + path.string() + "'", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return status_from_errno("cannot stat '" + path.string() + "'", err);
  }
  if (max_bytes != 0 && static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    *too_large = true;
    return Status::OK();
  }
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t r = ::read(fd, text.data() + got, text.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return status_from_errno("cannot read '" + path.string() + "'", err);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  text.resize(got);  // a file that shrank while read
  return Status::OK();
}

}  // namespace

std::string_view source_kind_name(Source::Kind kind) {
  switch (kind) {
    case Source::Kind::kDirectory:
      return "directory";
    case Source::Kind::kGit:
      return "git";
    case Source::Kind::kFile:
      return "file";
  }
  return "directory";
}

std::string blob_hex(const std::array<unsigned char, 20>& id) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

Result<std::vector<Source>> resolve_sources(const std::vector<std::string>& inputs, const std::string& revision) {
  init_libgit2();
  std::vector<Source> sources;
  for (const std::string& input : inputs) {
    Source s;
    s.input = input;
    std::string path = input;
    const bool force_directory = path.starts_with("dir:");
    if (force_directory) path = path.substr(4);
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return Status::not_found("--source '" + input + "' does not exist");
    s.path = fs::absolute(path, ec).lexically_normal();
    if (!s.path.has_filename()) s.path = s.path.parent_path();
    s.repo = name_of(s.path);
    if (fs::is_regular_file(st)) {
      s.kind = Source::Kind::kFile;
      s.repo = name_of(s.path.parent_path());
      sources.push_back(std::move(s));
      continue;
    }
    if (!fs::is_directory(st)) return Status::invalid_argument("--source '" + input + "' is not a file or folder");
    RepoPtr repo;
    if (!force_directory &&
        git_repository_open_ext(repo.out(), s.path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) == 0) {
      s.kind = Source::Kind::kGit;
      ObjectPtr object;
      if (git_revparse_single(object.out(), repo.get(), revision.c_str()) != 0)
        return Status::not_found("git repository '" + s.path.string() + "': cannot resolve revision '" + revision +
                                 "': " + git_message());
      ObjectPtr commit;
      if (git_object_peel(commit.out(), object.get(), GIT_OBJECT_COMMIT) != 0)
        return Status::invalid_argument("git repository '" + s.path.string() + "': revision '" + revision +
                                        "' is not a commit: " + git_message());
      s.commit = git_oid_tostr_s(git_object_id(commit.get()));
    }
    sources.push_back(std::move(s));
  }
  return sources;
}

Status list_candidates(const std::vector<Source>& sources, bool history, const FilterOptions& filter,
                       std::vector<Candidate>& out, ListingStats& stats) {
  for (uint32_t i = 0; i < sources.size(); ++i) {
    const Source& s = sources[i];
    switch (s.kind) {
      case Source::Kind::kFile: {
        ++stats.files_seen;
        Candidate c;
        c.source = i;
        c.path = s.path.filename().string();
        if (!admit_by_name(c.path, filter, c.language, stats)) break;
        std::error_code ec;
        c.size = fs::file_size(s.path, ec);
        out.push_back(std::move(c));
        break;
      }
      case Source::Kind::kDirectory:
        FW_RETURN_IF_ERROR(list_directory(i, s, filter, out, stats));
        break;
      case Source::Kind::kGit:
        FW_RETURN_IF_ERROR(list_git(i, s, history, filter, out, stats));
        break;
    }
  }
  return Status::OK();
}

struct SourceReader::Repos {
  std::vector<git_repository*> repos;  // per source, opened on first use
  std::vector<git_odb*> odbs;
  ~Repos() {
    for (git_odb* o : odbs)
      if (o != nullptr) git_odb_free(o);
    for (git_repository* r : repos)
      if (r != nullptr) git_repository_free(r);
  }
};

SourceReader::SourceReader(const std::vector<Source>& sources) : sources_(&sources), repos_(std::make_unique<Repos>()) {
  repos_->repos.assign(sources.size(), nullptr);
  repos_->odbs.assign(sources.size(), nullptr);
}

SourceReader::~SourceReader() = default;

Status SourceReader::read(const Candidate& candidate, uint64_t max_bytes, std::string& text, bool* too_large) {
  *too_large = false;
  text.clear();
  const Source& source = (*sources_)[candidate.source];
  if (!candidate.is_blob) {
    const fs::path path = source.kind == Source::Kind::kFile ? source.path : source.path / candidate.path;
    return read_path(path, max_bytes, text, too_large);
  }
  git_repository*& repo = repos_->repos[candidate.source];
  git_odb*& odb = repos_->odbs[candidate.source];
  if (repo == nullptr) {
    init_libgit2();
    if (git_repository_open_ext(&repo, source.path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
      repo = nullptr;
      return git_error(source, "cannot open");
    }
    if (git_repository_odb(&odb, repo) != 0) {
      odb = nullptr;
      return git_error(source, "cannot open the object database");
    }
  }
  const git_oid oid = to_oid(candidate.blob);
  size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb, &oid) != 0)
    return git_error(source, "cannot read blob " + blob_hex(candidate.blob) + " (" + candidate.path + ")");
  if (max_bytes != 0 && size > max_bytes) {
    *too_large = true;
    return Status::OK();
  }
  BlobPtr blob;
  if (git_blob_lookup(blob.out(), repo, &oid) != 0)
    return git_error(source, "cannot read blob " + blob_hex(candidate.blob) + " (" + candidate.path + ")");
  text.assign(static_cast<const char*>(git_blob_rawcontent(blob.get())),
              static_cast<size_t>(git_blob_rawsize(blob.get())));
  return Status::OK();
}

}  // namespace flywheel::data
