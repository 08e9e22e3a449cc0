// The test side of crash_fs (crash_fs.cpp): run a program with the preload
// library over a directory, then simulate a crash that loses every write the
// program had not made durable.
//
//   mark_durable(dir, image);               // the state before the workload
//   run the program with preload_environment(library, dir, image), kill it;
//   lose_unsynced(dir, image);              // the disk as a power cut leaves it
//
// Errors: Status (kIoError with the path) when a file cannot be copied.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "core/status.h"
#include "tests/common/crash_fs/image.h"

namespace flywheel::crash_fs {

// Assignments (NAME=value) that make a program keep the durable image of `dir` in `image`.
inline std::vector<std::string> preload_environment(const std::string& library, const std::string& dir,
                                                    const std::string& image) {
  return {"LD_PRELOAD=" + library, "CRASHFS_DIR=" + dir, "CRASHFS_SHADOW=" + image};
}

// Every file now under `dir` counts as durable (as if the machine had synced).
inline Status mark_durable(const std::string& dir, const std::string& image) {
  Status status;
  for_each_file(dir, [&](const std::string& relative) {
    if (const int error = copy_file(dir + relative, image + relative); error != 0 && status.ok())
      status = Status::from_errno("crash_fs: copy " + dir + relative, error);
  });
  return status;
}

// The crash: each file under `dir` gets back the contents of its last sync;
// files that were never synced are removed. Run it once the program is dead.
inline Status lose_unsynced(const std::string& dir, const std::string& image) {
  Status status;
  auto fail = [&](const std::string& what, int error) {
    if (status.ok()) status = Status::from_errno("crash_fs: " + what, error);
  };
  for_each_file(dir, [&](const std::string& relative) {
    struct stat info {};
    if (::stat((image + relative).c_str(), &info) == 0) {
      if (const int error = copy_file(image + relative, dir + relative)) fail("restore " + dir + relative, error);
    } else if (::unlink((dir + relative).c_str()) != 0) {
      fail("remove " + dir + relative, errno);
    }
  });
  // Synced files gone from `dir` by a path crash_fs does not see come back too.
  for_each_file(image, [&](const std::string& relative) {
    struct stat info {};
    if (::stat((dir + relative).c_str(), &info) != 0)
      if (const int error = copy_file(image + relative, dir + relative)) fail("restore " + dir + relative, error);
  });
  return status;
}

}  // namespace flywheel::crash_fs
