// libgit2 plumbing shared by the modules that read git repositories (data's
// sources, eval's replay): one-time library initialisation, the last error's
// message, and RAII owners for libgit2 objects.
//
// Thread-safety: init_libgit2() may be called from any thread; a GitPtr owns
// one object and belongs to one thread, like the libgit2 handle it holds.
#pragma once

#include <git2.h>

#include <mutex>
#include <string>

namespace flywheel::data {

inline void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

// The message of the last libgit2 error on this thread.
inline std::string git_message() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

// Owns a libgit2 object and frees it with `Free`.
template <typename T, void (*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p != nullptr) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using RepoPtr = GitPtr<git_repository, git_repository_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using PatchPtr = GitPtr<git_patch, git_patch_free>;
using RevwalkPtr = GitPtr<git_revwalk, git_revwalk_free>;

}  // namespace flywheel::data
