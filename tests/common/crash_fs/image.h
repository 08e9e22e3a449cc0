// The durable image of a directory, shared by the crash_fs preload library
// (which updates it on every fsync) and the tests (which put it back after
// a simulated crash).
//
// For every regular file under the tracked directory D, the image holds a
// file of the same relative path under the shadow directory S with the
// contents D's file had at its last fsync/fdatasync. A file of D without a
// copy in S was never made durable.
//
// Plain POSIX only: this code runs inside other programs (SQLite's writer,
// PostgreSQL's backends) through LD_PRELOAD, so it allocates little, throws
// nothing and never calls the functions crash_fs interposes.
//
// Thread- and process-safety: copy_contents() holds flock() on the
// destination, so two processes syncing the same file never interleave.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

namespace flywheel::crash_fs {

// Owner and mode of a new file or directory follow the file it copies, so
// that a server running as another user (postgres) can open the copy.
inline void take_owner(int fd, const struct stat& like) {
  if (::geteuid() == 0) (void)::fchown(fd, like.st_uid, like.st_gid);
}

// mkdir -p of the parent directories of `path` (owned like `like`).
inline bool make_parents(const std::string& path, const struct stat& like) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) == 0) {
      if (::geteuid() == 0) (void)::chown(dir.c_str(), like.st_uid, like.st_gid);
    } else if (errno != EEXIST) {
      return false;
    }
  }
  return true;
}

// Makes the file `to` hold exactly what the open file `from` holds, writing
// only the 4 KiB pages that differ (a PostgreSQL WAL segment is 16 MiB and
// is synced at every commit). Creates `to` if needed. Returns 0 or an errno.
inline int copy_contents(int from, const std::string& to) {
  struct stat source {};
  if (::fstat(from, &source) != 0) return errno;
  if (!make_parents(to, source)) return errno;
  const int out = ::open(to.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, source.st_mode & 07777);
  if (out < 0) return errno;
  take_owner(out, source);
  int error = 0;
  if (::flock(out, LOCK_EX) != 0) error = errno;
  // The size is read under the lock: a later sync of a longer file wins.
  if (error == 0 && ::fstat(from, &source) != 0) error = errno;
  constexpr size_t kPage = 4096, kChunk = 64 * kPage;
  std::string in_text(kChunk, '\0'), out_text(kChunk, '\0');
  char* in_buffer = in_text.data();
  char* out_buffer = out_text.data();
  for (off_t at = 0; error == 0 && at < source.st_size; at += kChunk) {
    const ssize_t n = ::pread(from, in_buffer, kChunk, at);
    if (n < 0) {
      error = errno;
      break;
    }
    if (n == 0) break;
    const ssize_t have = ::pread(out, out_buffer, static_cast<size_t>(n), at);
    if (have < 0) {
      error = errno;
      break;
    }
    for (ssize_t page = 0; page < n; page += kPage) {
      const size_t length = std::min<size_t>(kPage, static_cast<size_t>(n - page));
      if (page + static_cast<ssize_t>(length) <= have && std::memcmp(in_buffer + page, out_buffer + page, length) == 0)
        continue;
      if (::pwrite(out, in_buffer + page, length, at + page) != static_cast<ssize_t>(length)) {
        error = errno != 0 ? errno : EIO;
        break;
      }
    }
  }
  if (error == 0 && ::ftruncate(out, source.st_size) != 0) error = errno;
  ::close(out);  // releases the lock
  return error;
}

inline int copy_file(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno;
  const int error = copy_contents(in, to);
  ::close(in);
  return error;
}

// Calls visit(relative path) for every regular file under `root` (depth first;
// symbolic links are not followed).
inline void for_each_file(const std::string& root, const std::function<void(const std::string&)>& visit,
                          const std::string& relative = "") {
  DIR* dir = ::opendir((root + relative).c_str());
  if (dir == nullptr) return;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = relative + "/" + name;
    struct stat info {};
    if (::lstat((root + path).c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) for_each_file(root, visit, path);
    if (S_ISREG(info.st_mode)) visit(path);
  }
  ::closedir(dir);
}

}  // namespace flywheel::crash_fs
