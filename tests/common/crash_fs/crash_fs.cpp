// crash_fs: an LD_PRELOAD library that keeps the durable image (image.h) of
// one directory, so that a test can simulate a crash that loses the page
// cache: everything not made durable by fsync/fdatasync/sync/syncfs.
//
//   CRASHFS_DIR=/tracked CRASHFS_SHADOW=/image LD_PRELOAD=libcrash_fs.so program
//
// CRASHFS_KILL_AT_SYNC=N: the power cut. The Nth fsync/fdatasync of a
// tracked file, counted over every process of the run (in the file
// CRASHFS_SHADOW.syncs), freezes the image before it syncs (the crash lands
// when written data is least durable: all in the page cache) by creating
// CRASHFS_SHADOW.crashed, and SIGKILLs its caller. From then on no sync
// completes: every process that calls one, or was inside one, is SIGKILLed
// in it, so nothing is acknowledged as durable that the image lacks (a
// PostgreSQL server's other processes die on their next sync).
//
// When fsync(fd) or fdatasync(fd) of a regular file under CRASHFS_DIR
// returns 0, the file's whole contents as they were when the sync began go
// into the image (only the pages that changed; what others write during the
// sync waits for a sync of its own). The program's own reads and writes are untouched: it
// sees its page cache as usual. crash_fs.h puts the image back after the
// program is killed.
//
// Lenient on purpose: directory entries are durable at once. A synced file
// keeps its name without an fsync of its directory, and unlink/rename of
// tracked paths apply to the image when they return (contents are what the
// tests are about; SQLite and PostgreSQL sync their directories anyway).
//
// Not modelled (each would show up as lost data, never as data kept that a
// real crash could lose): O_SYNC/O_DSYNC opens, RWF_DSYNC writes, msync of
// shared file mappings, hard links, files moved in from outside the tracked
// directory (not durable until synced under their new name).
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "tests/common/crash_fs/image.h"

namespace {

using flywheel::crash_fs::copy_contents;
using flywheel::crash_fs::for_each_file;
using flywheel::crash_fs::make_parents;

template <typename F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

struct Config {
  std::string dir;     // canonical CRASHFS_DIR; empty: the library does nothing
  std::string shadow;  // CRASHFS_SHADOW
  long kill_at_sync = 0;
};

const Config& config() {
  static const Config c = [] {
    Config out;
    const char* dir = ::getenv("CRASHFS_DIR");
    const char* shadow = ::getenv("CRASHFS_SHADOW");
    char canonical[PATH_MAX];
    if (dir == nullptr || shadow == nullptr || ::realpath(dir, canonical) == nullptr) return out;
    out.dir = canonical;
    out.shadow = shadow;
    if (const char* n = ::getenv("CRASHFS_KILL_AT_SYNC")) out.kill_at_sync = std::atol(n);
    return out;
  }();
  return c;
}

// The path relative to the tracked directory ("/x/y"), or "" when outside it.
std::string tracked(const std::string& path) {
  const std::string& dir = config().dir;
  if (dir.empty() || path.size() <= dir.size() + 1 || path.compare(0, dir.size(), dir) != 0 || path[dir.size()] != '/')
    return "";
  return path.substr(dir.size());
}

std::string link_target(const std::string& link) {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink(link.c_str(), buffer, sizeof(buffer));
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

std::string fd_link(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// `path` (relative to `dirfd`) made absolute with a canonical parent: the last
// component may not exist (yet, or any more).
std::string absolute(int dirfd, const char* path) {
  if (path == nullptr || *path == '\0') return "";
  std::string p = path;
  if (p[0] != '/') {
    std::string base;
    if (dirfd == AT_FDCWD) {
      char cwd[PATH_MAX];
      if (::getcwd(cwd, sizeof(cwd)) == nullptr) return "";
      base = cwd;
    } else {
      base = link_target(fd_link(dirfd));
    }
    if (base.empty()) return "";
    p = base + "/" + p;
  }
  const size_t slash = p.rfind('/');
  const std::string parent = slash == 0 ? "/" : p.substr(0, slash);
  char canonical[PATH_MAX];
  if (::realpath(parent.c_str(), canonical) == nullptr) return "";
  const std::string prefix = canonical;
  return (prefix == "/" ? "" : prefix) + "/" + p.substr(slash + 1);
}

void complain(const std::string& what, int error) {
  const std::string line = "crash_fs: " + what + ": " + std::strerror(error) + "\n";
  (void)!::write(2, line.data(), line.size());
}

// One more tracked sync, counted under flock() across processes: the new count.
long count_sync() {
  const int fd = ::open((config().shadow + ".syncs").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  long n = 0;
  char text[32] = {};
  if (::flock(fd, LOCK_EX) == 0 && ::pread(fd, text, sizeof(text) - 1, 0) >= 0) {
    n = std::atol(text) + 1;
    const std::string next_text = std::to_string(n);
    if (::pwrite(fd, next_text.data(), next_text.size(), 0) != static_cast<ssize_t>(next_text.size())) n = 0;
  }
  ::close(fd);
  return n;
}

std::string crashed_marker() { return config().shadow + ".crashed"; }

bool power_cut() {
  struct stat info {};
  return config().kill_at_sync > 0 && ::stat(crashed_marker().c_str(), &info) == 0;
}

[[noreturn]] void die() {
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);
}

// Before a sync of `fd`: the power cut, if this is the sync it is set for.
void maybe_crash(int fd) {
  if (config().kill_at_sync <= 0 || tracked(link_target(fd_link(fd))).empty()) return;
  if (power_cut()) die();
  if (count_sync() == config().kill_at_sync) {
    const int marker = ::open(crashed_marker().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (marker < 0) complain("create " + crashed_marker(), errno);
    die();
  }
}

// fsync(fd) or fdatasync(fd) through `real`: what the file held when the
// sync began is durable once it returns 0 (unless the power was cut while
// it ran). Only a regular file still under its tracked name has contents to
// keep. The caller's errno is the sync's.
int sync_file(int (*real)(int), int fd) {
  maybe_crash(fd);
  const std::string relative = tracked(link_target(fd_link(fd)));
  if (relative.empty()) return real(fd);
  struct stat open_file {
  }, named{};
  const std::string path = config().dir + relative;
  if (::fstat(fd, &open_file) != 0 || !S_ISREG(open_file.st_mode) || ::stat(path.c_str(), &named) != 0 ||
      named.st_ino != open_file.st_ino || named.st_dev != open_file.st_dev)
    return real(fd);
  // Reopened for reading: the program's descriptor may be write-only.
  const int in = ::open(fd_link(fd).c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    complain("reopen " + path, errno);
    return real(fd);
  }
  bool synced = false;
  int rc = 0, sync_errno = 0;
  const int error = copy_contents(in, config().shadow + relative, [&] {
    synced = true;
    rc = real(fd);
    sync_errno = errno;
    if (rc == 0 && power_cut()) die();
    return rc == 0;
  });
  ::close(in);
  if (error != 0) complain("copy " + path, error);
  if (!synced) return real(fd);
  errno = sync_errno;
  return rc;
}

void make_all_durable() {
  if (config().dir.empty()) return;
  if (power_cut()) die();
  for_each_file(config().dir, [](const std::string& relative) {
    const std::string path = config().dir + relative;
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    if (const int error = copy_contents(in, config().shadow + relative)) complain("copy " + path, error);
    ::close(in);
  });
}

using UnlinkFn = int (*)(const char*);
using RenameFn = int (*)(const char*, const char*);

void forget(const std::string& relative) {
  static const auto real_unlink = next<UnlinkFn>("unlink");
  (void)real_unlink((config().shadow + relative).c_str());
}

// The image follows a rename made under the tracked directory.
void renamed(const std::string& from, const std::string& to, bool exchange) {
  static const auto real_rename = next<RenameFn>("rename");
  const std::string old_relative = tracked(from), new_relative = tracked(to);
  const std::string old_image = config().shadow + old_relative, new_image = config().shadow + new_relative;
  struct stat info {};
  if (exchange && !old_relative.empty() && !new_relative.empty()) {
    const std::string swap = new_image + ".crash_fs-swap";
    (void)real_rename(old_image.c_str(), swap.c_str());
    (void)real_rename(new_image.c_str(), old_image.c_str());
    (void)real_rename(swap.c_str(), new_image.c_str());
    return;
  }
  if (!new_relative.empty()) {
    if (!old_relative.empty() && ::lstat(old_image.c_str(), &info) == 0 && make_parents(new_image, info)) {
      (void)real_rename(old_image.c_str(), new_image.c_str());
      return;
    }
    forget(new_relative);
  }
  if (!old_relative.empty()) forget(old_relative);
}

}  // namespace

extern "C" {

int fsync(int fd) {
  static const auto real = next<int (*)(int)>("fsync");
  return sync_file(real, fd);
}

int fdatasync(int fd) {
  static const auto real = next<int (*)(int)>("fdatasync");
  return sync_file(real, fd);
}

void sync(void) {
  static const auto real = next<void (*)()>("sync");
  real();
  const int saved = errno;
  make_all_durable();
  errno = saved;
}

int syncfs(int fd) {
  static const auto real = next<int (*)(int)>("syncfs");
  const int rc = real(fd);
  if (rc == 0) {
    const int saved = errno;
    make_all_durable();
    errno = saved;
  }
  return rc;
}

int unlink(const char* path) {
  static const auto real = next<UnlinkFn>("unlink");
  const std::string where = absolute(AT_FDCWD, path);
  const int rc = real(path);
  if (rc == 0 && !tracked(where).empty()) {
    const int saved = errno;
    forget(tracked(where));
    errno = saved;
  }
  return rc;
}

int unlinkat(int dirfd, const char* path, int flags) {
  static const auto real = next<int (*)(int, const char*, int)>("unlinkat");
  const std::string where = absolute(dirfd, path);
  const int rc = real(dirfd, path, flags);
  const std::string relative = tracked(where);
  if (rc == 0 && !relative.empty()) {
    const int saved = errno;
    if (flags & AT_REMOVEDIR)
      (void)::rmdir((config().shadow + relative).c_str());
    else
      forget(relative);
    errno = saved;
  }
  return rc;
}

int rename(const char* from, const char* to) {
  static const auto real = next<RenameFn>("rename");
  const std::string old_path = absolute(AT_FDCWD, from), new_path = absolute(AT_FDCWD, to);
  const int rc = real(from, to);
  if (rc == 0) {
    const int saved = errno;
    renamed(old_path, new_path, false);
    errno = saved;
  }
  return rc;
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  static const auto real = next<int (*)(int, const char*, int, const char*)>("renameat");
  const std::string old_path = absolute(from_dir, from), new_path = absolute(to_dir, to);
  const int rc = real(from_dir, from, to_dir, to);
  if (rc == 0) {
    const int saved = errno;
    renamed(old_path, new_path, false);
    errno = saved;
  }
  return rc;
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned int flags) {
  static const auto real = next<int (*)(int, const char*, int, const char*, unsigned int)>("renameat2");
  const std::string old_path = absolute(from_dir, from), new_path = absolute(to_dir, to);
  const int rc = real(from_dir, from, to_dir, to, flags);
  if (rc == 0) {
    const int saved = errno;
    renamed(old_path, new_path, (flags & RENAME_EXCHANGE) != 0);
    errno = saved;
  }
  return rc;
}

}  // extern "C"
