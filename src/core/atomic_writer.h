// Atomic writes too large to hold in memory, and atomic directories.
//
// AtomicFileWriter streams a file (a multi-GB safetensors, say) into a
// temporary file beside its target (`.<name>.tmp-<pid>-w<n>`, which
// is_atomic_temp_file_name recognises), and commit() fsyncs it, renames it over
// the target and fsyncs the directory: readers, and a process started after a
// crash, see the old file or the complete new one. Dropping the writer
// without commit() removes the temporary file and leaves the target alone.
//
// write_directory_atomically does the same for a whole directory (a
// checkpoint): `fill` writes into a fresh temporary directory beside the
// target; then every file and directory in it is fsynced and it takes the
// target's place. An existing target directory is swapped out in one step
// (renameat2 RENAME_EXCHANGE), so no instant exists where the name is missing
// or holds a mix; only then is the old content deleted. On file systems
// without RENAME_EXCHANGE it falls back to two renames, and a crash between
// them leaves the old content at `.<name>.old-<pid>-<n>` beside the target.
//
// Thread-safety: each AtomicFileWriter belongs to one thread; different
// writers (threads or processes) never share temporary names. Two concurrent
// write_directory_atomically calls for one target both succeed; the last
// swap wins.
// Errors: Status naming the path and the operating system's reason; on any
// failure before the final rename the target is untouched and the temporary
// file or directory is removed.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "core/file_system.h"
#include "core/status.h"

namespace flywheel {

class AtomicFileWriter {
 public:
  // Creates the temporary file. The parent directory of `path` must exist.
  static Result<AtomicFileWriter> create(const std::filesystem::path& path, FileSystem& fs = default_file_system());

  // Appends `data` to the temporary file (no copy, no buffering).
  Status append(std::string_view data);
  // fsync, close, rename over the target, fsync the directory. After an error
  // before the rename, the temporary file is gone and the target unchanged;
  // a failed directory fsync comes after the rename and says so.
  Status commit();
  // Removes the temporary file (also done by the destructor when uncommitted).
  void abort();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return temp_; }

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

 private:
  AtomicFileWriter(std::filesystem::path path, std::filesystem::path temp, std::unique_ptr<WritableFile> file,
                   FileSystem* fs);

  std::filesystem::path path_;
  std::filesystem::path temp_;
  std::unique_ptr<WritableFile> file_;  // null once committed or aborted
  FileSystem* fs_ = nullptr;
  Status error_;  // the first append error; commit() reports it
};

// Builds the directory `dir` atomically: calls fill(temp_dir) on a new empty
// directory beside `dir`, fsyncs everything in it, then moves it into place,
// replacing an existing directory. Missing parents of `dir` are created. If
// `fill` returns an error, the temporary directory is removed and `dir` is
// untouched. `dir` must not be an existing non-directory (or symlink).
Status write_directory_atomically(const std::filesystem::path& dir,
                                  const std::function<Status(const std::filesystem::path& temp_dir)>& fill);

}  // namespace flywheel
