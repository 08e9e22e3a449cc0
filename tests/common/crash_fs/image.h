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

// Makes the file `to` hold exactly what the open file `from` held when it
// was read, writing only the 4 KiB pages that differ (a PostgreSQL WAL
// segment is 16 MiB and is synced at every commit). Creates `to` if needed.
// With `commit`: `from` is read first, then commit() runs (the sync that
// makes what was read durable), and the copy is written only if it returns
// true. So what another thread or process writes while the sync runs is not
// taken for synced. Returns 0 or an errno.
inline int copy_contents(int from, const std::string& to, const std::function<bool()>& commit = {}) {
  struct stat source {};
  if (::fstat(from, &source) != 0) return errno;
  if (!make_parents(to, source)) return errno;
  const int out = ::open(to.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, source.st_mode & 07777);
  if (out < 0) return errno;
  take_owner(out, source);
  int error = 0;
  // Under the lock from the read to the write: a later sync's copy wins.
  if (::flock(out, LOCK_EX) != 0) error = errno;
  if (error == 0 && ::fstat(from, &source) != 0) error = errno;
  std::string data(error == 0 ? static_cast<size_t>(source.st_size) : 0, '\0');
  size_t have = 0;
  while (error == 0 && have < data.size()) {
    const ssize_t n = ::pread(from, data.data() + have, data.size() - have, static_cast<off_t>(have));
    if (n < 0) error = errno;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  data.resize(have);
  if (error == 0 && commit && !commit()) {
    ::close(out);
    return 0;
  }
  constexpr size_t kPage = 4096;
  char page_buffer[kPage];
  for (size_t at = 0; error == 0 && at < data.size(); at += kPage) {
    const size_t length = std::min(kPage, data.size() - at);
    const ssize_t old = ::pread(out, page_buffer, length, static_cast<off_t>(at));
    if (old < 0) {
      error = errno;
      break;
    }
    if (static_cast<size_t>(old) == length && std::memcmp(page_buffer, data.data() + at, length) == 0) continue;
    if (::pwrite(out, data.data() + at, length, static_cast<off_t>(at)) != static_cast<ssize_t>(length))
      error = errno != 0 ? errno : EIO;
  }
  if (error == 0 && ::ftruncate(out, static_cast<off_t>(data.size())) != 0) error = errno;
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
