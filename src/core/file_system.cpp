#include "core/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace flywheel {
namespace {

std::string quoted(const std::filesystem::path& path) {
  std::string out(1, '\'');
  out += path.string();
  out += '\'';
  return out;
}

// Closes on destruction so that an early return never leaks the descriptor.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;

 private:
  int fd_;
};

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    if (fd_ < 0) return Status::internal("append to closed file " + quoted(path_));
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return status_from_errno("cannot write " + quoted(path_), errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }

  Status sync() override {
    if (fd_ < 0) return Status::internal("sync of closed file " + quoted(path_));
    if (::fsync(fd_) != 0) return status_from_errno("cannot fsync " + quoted(path_), errno);
    return Status::OK();
  }

  Status close() override {
    if (fd_ < 0) return Status::OK();
    int fd = fd_;
    fd_ = -1;
    // On Linux the descriptor is released even when close() fails, so never retry it.
    if (::close(fd) != 0) return status_from_errno("cannot close " + quoted(path_), errno);
    return Status::OK();
  }

 private:
  std::filesystem::path path_;
  int fd_;
};

}  // namespace

Status status_from_errno(std::string what, int err) {
  what += ": ";
  what += std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::not_found(std::move(what));
    case EEXIST:
      return Status::already_exists(std::move(what));
    case EACCES:
    case EPERM:
    case EROFS:
      return Status(StatusCode::kPermissionDenied, std::move(what));
    case ENOSPC:
    case EDQUOT:
      return Status::resource_exhausted(std::move(what));
    default:
      return Status::io_error(std::move(what));
  }
}

Result<std::unique_ptr<WritableFile>> PosixFileSystem::new_writable_file(const std::filesystem::path& path,
                                                                         bool exclusive) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return status_from_errno("cannot create " + quoted(path), errno);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

Result<std::string> PosixFileSystem::read_file(const std::filesystem::path& path) {
  int raw_fd;
  do {
    raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) return status_from_errno("cannot open " + quoted(path), errno);
  FdGuard fd(raw_fd);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return status_from_errno("cannot stat " + quoted(path), errno);
  if (S_ISDIR(st.st_mode)) return Status::invalid_argument("cannot read " + quoted(path) + ": it is a directory");
  std::string out;
  // The size is a hint only: files in /proc report 0, and a file may grow while read.
  if (S_ISREG(st.st_mode) && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return status_from_errno("cannot read " + quoted(path), errno);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

Status PosixFileSystem::rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return status_from_errno("cannot rename " + quoted(from) + " to " + quoted(to), errno);
  }
  return Status::OK();
}

Status PosixFileSystem::remove_file(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0) return status_from_errno("cannot remove " + quoted(path), errno);
  return Status::OK();
}

Status PosixFileSystem::sync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path& target = dir.empty() ? std::filesystem::path(".") : dir;
  int raw_fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw_fd < 0) return status_from_errno("cannot open directory " + quoted(target), errno);
  FdGuard fd(raw_fd);
  if (::fsync(fd.get()) != 0) {
    // Some file systems (e.g. certain network or FUSE mounts) cannot fsync a
    // directory at all; there is nothing more durable to be had there.
    if (errno == EINVAL || errno == ENOTSUP) return Status::OK();
    return status_from_errno("cannot fsync directory " + quoted(target), errno);
  }
  return Status::OK();
}

Status PosixFileSystem::create_directories(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return status_from_errno("cannot create directory " + quoted(dir), ec.value());
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::already_exists("cannot create directory " + quoted(dir) + ": a file of that name exists");
  }
  return Status::OK();
}

bool PosixFileSystem::exists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

FileSystem& default_file_system() {
  static PosixFileSystem* fs = new PosixFileSystem();  // never destroyed: usable during static destruction
  return *fs;
}

}  // namespace flywheel
