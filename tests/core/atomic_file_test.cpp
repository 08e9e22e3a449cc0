#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <thread>

#include "core/file_system.h"
#include "test_util.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

// Wraps the real file system and fails chosen operations, the way a full disk
// or a crash would.
class FaultInjectingFileSystem : public FileSystem {
 public:
  // After this many bytes in total, append() writes what fits and fails with ENOSPC.
  std::optional<size_t> disk_space;
  bool fail_sync = false;
  bool fail_rename = false;
  bool fail_sync_directory = false;
  // The process "dies" at the rename: nothing afterwards happens, not even cleanup.
  bool crash_at_rename = false;

  bool crashed = false;
  int removes = 0;

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::filesystem::path& path, bool exclusive) override {
    if (crashed) return Status::io_error("crashed");
    FW_ASSIGN_OR_RETURN(auto file, base_.new_writable_file(path, exclusive));
    return std::unique_ptr<WritableFile>(new FaultyFile(this, std::move(file)));
  }
  Result<std::string> read_file(const std::filesystem::path& path) override { return base_.read_file(path); }
  Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (crash_at_rename) {
      crashed = true;
      return Status::io_error("crashed");
    }
    if (fail_rename) return status_from_errno("cannot rename", EXDEV);
    return base_.rename_file(from, to);
  }
  Status remove_file(const std::filesystem::path& path) override {
    if (crashed) return Status::io_error("crashed");
    ++removes;
    return base_.remove_file(path);
  }
  Status sync_directory(const std::filesystem::path& dir) override {
    if (crashed) return Status::io_error("crashed");
    if (fail_sync_directory) return status_from_errno("cannot fsync directory", EIO);
    return base_.sync_directory(dir);
  }
  Status create_directories(const std::filesystem::path& dir) override { return base_.create_directories(dir); }
  bool exists(const std::filesystem::path& path) override { return base_.exists(path); }

 private:
  class FaultyFile : public WritableFile {
   public:
    FaultyFile(FaultInjectingFileSystem* fs, std::unique_ptr<WritableFile> file) : fs_(fs), file_(std::move(file)) {}
    Status append(std::string_view data) override {
      if (fs_->disk_space) {
        size_t fits = std::min(data.size(), *fs_->disk_space);
        *fs_->disk_space -= fits;
        FW_RETURN_IF_ERROR(file_->append(data.substr(0, fits)));
        if (fits < data.size()) return status_from_errno("cannot write", ENOSPC);
        return Status::OK();
      }
      return file_->append(data);
    }
    Status sync() override {
      if (fs_->fail_sync) return status_from_errno("cannot fsync", EIO);
      return file_->sync();
    }
    Status close() override { return file_->close(); }

   private:
    FaultInjectingFileSystem* fs_;
    std::unique_ptr<WritableFile> file_;
  };

  PosixFileSystem base_;
};

std::string read_or_die(const std::filesystem::path& path) {
  auto content = read_file(path);
  EXPECT_TRUE(content.ok()) << content.status().to_string();
  return content.ok() ? *content : std::string();
}

TEST(AtomicFile, WritesANewFile) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a.json", "{\"x\": 1}").is_ok());
  EXPECT_EQ(read_or_die(dir / "a.json"), "{\"x\": 1}");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a.json"});
}

TEST(AtomicFile, ReplacesContentAndLeavesNoTemporaryFile) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a.txt", "old content that is longer").is_ok());
  ASSERT_TRUE(write_file_atomically(dir / "a.txt", "new").is_ok());
  EXPECT_EQ(read_or_die(dir / "a.txt"), "new");
  ASSERT_TRUE(write_file_atomically(dir / "a.txt", "").is_ok());
  EXPECT_EQ(read_or_die(dir / "a.txt"), "");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, WritesBinaryAndLargeContent) {
  TempDir dir;
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 256);
  ASSERT_TRUE(write_file_atomically(dir / "big.bin", bytes).is_ok());
  EXPECT_EQ(read_or_die(dir / "big.bin"), bytes);
}

TEST(AtomicFile, KeepsOldFileWhenDiskIsFull) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "model.json", "old").is_ok());
  FaultInjectingFileSystem fs;
  fs.disk_space = 10;
  Status status = write_file_atomically(dir / "model.json", std::string(1000, 'x'), fs);
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("model.json"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("No space left on device"), std::string::npos) << status.message();
  EXPECT_EQ(read_or_die(dir / "model.json"), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.json"});
  EXPECT_EQ(fs.removes, 1);
}

TEST(AtomicFile, KeepsOldFileWhenRenameFails) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a", "old").is_ok());
  FaultInjectingFileSystem fs;
  fs.fail_rename = true;
  Status status = write_file_atomically(dir / "a", "new", fs);
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find("unchanged"), std::string::npos) << status.message();
  EXPECT_EQ(read_or_die(dir / "a"), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a"});
}

TEST(AtomicFile, KeepsOldFileWhenFsyncFails) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a", "old").is_ok());
  FaultInjectingFileSystem fs;
  fs.fail_sync = true;
  EXPECT_FALSE(write_file_atomically(dir / "a", "new", fs).is_ok());
  EXPECT_EQ(read_or_die(dir / "a"), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a"});
}

TEST(AtomicFile, CrashBetweenWriteAndRenameLeavesOldFileAndARecognisableTemporary) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "state.json", "old").is_ok());
  FaultInjectingFileSystem fs;
  fs.crash_at_rename = true;
  EXPECT_FALSE(write_file_atomically(dir / "state.json", "new content", fs).is_ok());
  // What a restarted process finds: the old file, whole, and the complete,
  // synced temporary file that cleanup tools can recognise by its name.
  EXPECT_EQ(read_or_die(dir / "state.json"), "old");
  std::vector<std::string> names = dir.list();
  ASSERT_EQ(names.size(), 2u);
  std::string temp = names[0] == "state.json" ? names[1] : names[0];
  EXPECT_TRUE(is_atomic_temp_file_name(temp)) << temp;
  EXPECT_EQ(read_or_die(dir / temp), "new content");
  EXPECT_FALSE(is_atomic_temp_file_name("state.json"));
  EXPECT_FALSE(is_atomic_temp_file_name(".hidden"));

  // The next write succeeds and does not trip over the leftover.
  ASSERT_TRUE(write_file_atomically(dir / "state.json", "newer").is_ok());
  EXPECT_EQ(read_or_die(dir / "state.json"), "newer");
}

TEST(AtomicFile, ReportsAFailedDirectorySyncAfterTheRename) {
  TempDir dir;
  FaultInjectingFileSystem fs;
  fs.fail_sync_directory = true;
  Status status = write_file_atomically(dir / "a", "new", fs);
  EXPECT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("durable"), std::string::npos) << status.message();
  EXPECT_EQ(read_or_die(dir / "a"), "new");
}

TEST(AtomicFile, MissingDirectoryIsNotFoundNamingThePath) {
  TempDir dir;
  Status status = write_file_atomically(dir / "no" / "such" / "a.json", "x");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("a.json"), std::string::npos) << status.message();
}

TEST(AtomicFile, RejectsPathsWithoutAFileName) {
  EXPECT_EQ(write_file_atomically("", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(write_file_atomically("/tmp/", "x").code(), StatusCode::kInvalidArgument);
}

TEST(AtomicFile, RelativePathUsesTheWorkingDirectory) {
  TempDir dir;
  auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Status status = write_file_atomically("relative.txt", "here");
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(status.is_ok()) << status.to_string();
  EXPECT_EQ(read_or_die(dir / "relative.txt"), "here");
}

TEST(AtomicFile, ConcurrentWritersToOnePathLeaveOneWholeVersion) {
  TempDir dir;
  std::vector<std::thread> threads;
  std::set<std::string> written;
  for (int t = 0; t < 4; ++t) written.insert(std::string(10000 + t, static_cast<char>('a' + t)));
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&dir, t] {
      std::string content(10000 + t, static_cast<char>('a' + t));
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(write_file_atomically(dir / "shared", content).is_ok());
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(written.count(read_or_die(dir / "shared")), 1u);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"shared"});
}

TEST(ReadFile, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  auto content = read_file(dir / "missing.json");
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.status().code(), StatusCode::kNotFound);
  EXPECT_NE(content.status().message().find("missing.json"), std::string::npos);
  EXPECT_NE(content.status().message().find("No such file"), std::string::npos);
}

TEST(ReadFile, DirectoryIsAnInvalidArgument) {
  TempDir dir;
  auto content = read_file(dir.path());
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(content.status().message().find("directory"), std::string::npos);
}

TEST(ReadFile, ReadsFilesThatReportNoSize) {
  auto content = read_file("/proc/self/status");
  ASSERT_TRUE(content.ok()) << content.status().to_string();
  EXPECT_NE(content->find("Name:"), std::string::npos);
}

}  // namespace
}  // namespace flywheel
