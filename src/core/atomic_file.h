// Durable whole-file writes: a reader (or a process started after a crash or
// power loss) sees either the old content of a file or the new one, never a
// mix or a truncated file.
//
// write_file_atomically writes a temporary file in the same directory
// (`.<name>.tmp-<pid>-<n>`), fsyncs it, renames it over the target and fsyncs
// the directory. On any failure before the rename the target is untouched and
// the temporary file is removed. Only a failure of the final directory fsync
// comes after the rename: the new content is then in place but may not
// survive a power loss, and the error says so.
//
// The new file gets mode 0666 & ~umask (the old file's mode is not copied);
// a symlink at `path` is replaced by a regular file. The parent directory must
// exist (create it with FileSystem::create_directories).
//
// Thread-safety: safe to call from many threads, also for the same path (the
// last rename wins; temporary names never collide).
// Errors: Status naming the path and the operating system's reason
// (resource_exhausted for a full disk, not_found for a missing directory).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/file_system.h"
#include "core/status.h"

namespace flywheel {

Status write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                             FileSystem& fs = default_file_system());

// The whole content of a file. not_found names the missing path; reading a
// directory is an invalid_argument.
Result<std::string> read_file(const std::filesystem::path& path, FileSystem& fs = default_file_system());

// True for names write_file_atomically uses for its temporary files, so that
// tools cleaning up after a crash can recognise them.
bool is_atomic_temp_file_name(std::string_view file_name);

}  // namespace flywheel
