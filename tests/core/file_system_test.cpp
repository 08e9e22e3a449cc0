#include "core/file_system.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "test_util.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

TEST(StatusFromErrno, MapsErrnoToCodes) {
  EXPECT_EQ(status_from_errno("x", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(status_from_errno("x", EEXIST).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(status_from_errno("x", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(status_from_errno("x", ENOSPC).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(status_from_errno("x", EIO).code(), StatusCode::kIoError);
  EXPECT_EQ(status_from_errno("cannot open 'f'", ENOENT).message(), "cannot open 'f': No such file or directory");
}

TEST(PosixFileSystem, WriteSyncRenameReadRemove) {
  TempDir dir;
  FileSystem& fs = default_file_system();
  auto file = fs.new_writable_file(dir / "a", /*exclusive=*/true);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  ASSERT_TRUE((*file)->append("hello ").is_ok());
  ASSERT_TRUE((*file)->append("world").is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  ASSERT_TRUE((*file)->close().is_ok());
  ASSERT_TRUE((*file)->close().is_ok());  // closing twice is harmless

  ASSERT_TRUE(fs.rename_file(dir / "a", dir / "b").is_ok());
  EXPECT_FALSE(fs.exists(dir / "a"));
  auto content = fs.read_file(dir / "b");
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "hello world");
  ASSERT_TRUE(fs.sync_directory(dir.path()).is_ok());
  ASSERT_TRUE(fs.remove_file(dir / "b").is_ok());
  EXPECT_EQ(fs.remove_file(dir / "b").code(), StatusCode::kNotFound);
}

TEST(PosixFileSystem, ExclusiveCreateFailsOnExistingFile) {
  TempDir dir;
  FileSystem& fs = default_file_system();
  ASSERT_TRUE(fs.new_writable_file(dir / "a", true).ok());
  auto again = fs.new_writable_file(dir / "a", true);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  // Non-exclusive truncates.
  auto truncating = fs.new_writable_file(dir / "a", false);
  EXPECT_TRUE(truncating.ok());
}

TEST(PosixFileSystem, CreateDirectories) {
  TempDir dir;
  FileSystem& fs = default_file_system();
  ASSERT_TRUE(fs.create_directories(dir / "x/y/z").is_ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir / "x/y/z"));
  EXPECT_TRUE(fs.create_directories(dir / "x/y/z").is_ok());  // already there
  ASSERT_TRUE(fs.new_writable_file(dir / "file", true).ok());
  Status status = fs.create_directories(dir / "file");
  EXPECT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("file"), std::string::npos);
}

TEST(PosixFileSystem, RenameErrorNamesBothPaths) {
  TempDir dir;
  Status status = default_file_system().rename_file(dir / "missing", dir / "target");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("missing"), std::string::npos);
  EXPECT_NE(status.message().find("target"), std::string::npos);
}

}  // namespace
}  // namespace flywheel
