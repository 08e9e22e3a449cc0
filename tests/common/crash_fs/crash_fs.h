// The test side of crash_fs (crash_fs.cpp): run a program with the preload
// library over a directory, then simulate a crash that loses every write the
// program had not made durable.
//
//   mark_durable(dir, image);               // the state before the workload
//   run the program with preload_environment(library, dir, image), kill it;
//   lose_unsynced(dir, image);              // the disk as a power cut leaves it
//   lose_unsynced(dir, image, {0.5, seed}); // ... having written back half the rest
//
// Errors: Status (kIoError with the path) when a file cannot be copied.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>
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

// How much of the unsynced data the kernel had written back at the crash.
struct Writeback {
  double fraction = 0;  // each changed 4 KiB page (and the new size) reached the disk with this probability
  uint32_t seed = 0;
};

// `file` as a crash leaves it when its synced contents are `image` and some
// dirty pages were written back: pages past the synced size that were not
// written read as zeros (as a file system that orders data before its size
// shows them). Returns 0 or an errno.
inline int tear(const std::string& file, const std::string& image, const Writeback& writeback, std::mt19937& rng) {
  auto slurp = [](const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) return false;
    out.assign(std::istreambuf_iterator<char>(in), {});
    return !in.bad();
  };
  std::string now, synced;
  if (!slurp(file, now) || !slurp(image, synced)) return EIO;
  std::bernoulli_distribution written(writeback.fraction);
  const size_t size = written(rng) ? now.size() : synced.size();
  std::string out(size, '\0');
  constexpr size_t kPage = 4096;
  for (size_t at = 0; at < size; at += kPage) {
    const size_t length = std::min(kPage, size - at);
    auto page = [&](const std::string& from) { return from.substr(std::min(at, from.size()), length); };
    const std::string old_page = page(synced), new_page = page(now);
    const std::string& chosen = old_page == new_page || !written(rng) ? old_page : new_page;
    out.replace(at, chosen.size(), chosen);
  }
  std::ofstream write(file, std::ios::binary | std::ios::trunc);
  write << out;
  return write.flush() ? 0 : EIO;
}

// The crash: each file under `dir` gets back the contents of its last sync
// (with `writeback`, some of the later pages too); files that were never
// synced are removed. Run it once the program is dead.
inline Status lose_unsynced(const std::string& dir, const std::string& image, const Writeback& writeback = {}) {
  Status status;
  auto fail = [&](const std::string& what, int error) {
    if (status.ok()) status = Status::from_errno("crash_fs: " + what, error);
  };
  std::mt19937 rng(writeback.seed);
  for_each_file(dir, [&](const std::string& relative) {
    struct stat info {};
    if (::stat((image + relative).c_str(), &info) == 0) {
      const int error = writeback.fraction > 0 ? tear(dir + relative, image + relative, writeback, rng)
                                               : copy_file(image + relative, dir + relative);
      if (error != 0) fail("restore " + dir + relative, error);
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
