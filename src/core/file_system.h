// FileSystem: the few file operations flywheel's durable writes need, behind
// an interface so tests can inject faults (a full disk, a failed rename, a
// crash between write and rename) without touching the real disk's behaviour.
// PosixFileSystem is the real one; default_file_system() returns it.
//
// Thread-safety: PosixFileSystem has no state and may be used from many
// threads. A WritableFile belongs to one thread.
// Errors: every operation returns a Status whose message names the path and
// the operating system's reason; errno maps to a code by status_from_errno().
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel {

// `what: strerror(err)` with a code that fits errno: ENOENT → not_found,
// EEXIST → already_exists, EACCES/EPERM/EROFS → permission_denied,
// ENOSPC/EDQUOT → resource_exhausted, anything else → io_error.
Status status_from_errno(std::string what, int err);

// A file open for writing. The destructor closes it without syncing (and
// without reporting errors); call close() to learn whether the data reached
// the kernel.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` (retrying short writes) at the end of the file.
  virtual Status append(std::string_view data) = 0;
  // Makes the data durable (fsync).
  virtual Status sync() = 0;
  virtual Status close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` for writing. With `exclusive`, fails with already_exists if
  // it exists (O_EXCL); otherwise truncates it.
  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::filesystem::path& path,
                                                                  bool exclusive) = 0;
  // The whole content of a regular file.
  virtual Result<std::string> read_file(const std::filesystem::path& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)); both in one file system.
  virtual Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Removes a file; not_found if it does not exist.
  virtual Status remove_file(const std::filesystem::path& path) = 0;
  // fsync of a directory, so that a rename or a new name in it survives a power loss.
  virtual Status sync_directory(const std::filesystem::path& dir) = 0;
  // mkdir -p; OK if it already exists as a directory.
  virtual Status create_directories(const std::filesystem::path& dir) = 0;
  virtual bool exists(const std::filesystem::path& path) = 0;
};

class PosixFileSystem : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::filesystem::path& path, bool exclusive) override;
  Result<std::string> read_file(const std::filesystem::path& path) override;
  Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status remove_file(const std::filesystem::path& path) override;
  Status sync_directory(const std::filesystem::path& dir) override;
  Status create_directories(const std::filesystem::path& dir) override;
  bool exists(const std::filesystem::path& path) override;
};

// The process-wide PosixFileSystem.
FileSystem& default_file_system();

}  // namespace flywheel
