#include "core/atomic_writer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "test_util.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(AtomicFileWriterTest, StreamsAndCommits) {
  TempDir dir;
  const auto path = dir / "big.bin";
  spit(path, "old");
  Result<AtomicFileWriter> writer = AtomicFileWriter::create(path);
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  EXPECT_TRUE(is_atomic_temp_file_name(writer->temp_path().filename().string()));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(writer->append(std::string(1000, static_cast<char>('a' + i % 26))).is_ok());
  EXPECT_EQ(slurp(path), "old");  // nothing visible before commit
  ASSERT_TRUE(writer->commit().is_ok());
  const std::string content = slurp(path);
  EXPECT_EQ(content.size(), 100000u);
  EXPECT_EQ(content.substr(1000, 3), "bbb");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"big.bin"});
  EXPECT_FALSE(writer->append("x").is_ok());  // committed
}

TEST(AtomicFileWriterTest, DroppedWriterLeavesNothing) {
  TempDir dir;
  const auto path = dir / "f.bin";
  spit(path, "old");
  {
    Result<AtomicFileWriter> writer = AtomicFileWriter::create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append("new").is_ok());
    AtomicFileWriter moved = std::move(writer).value();  // ownership moves; one cleanup
    ASSERT_TRUE(moved.append("er").is_ok());
  }
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"f.bin"});
}

TEST(AtomicFileWriterTest, MissingDirectory) {
  TempDir dir;
  Result<AtomicFileWriter> writer = AtomicFileWriter::create(dir / "no" / "f.bin");
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), StatusCode::kNotFound);
  EXPECT_NE(writer.status().message().find("f.bin"), std::string::npos);
}

TEST(WriteDirectoryAtomicallyTest, CreatesThenReplaces) {
  TempDir dir;
  const auto target = dir / "runs" / "checkpoint";
  ASSERT_TRUE(write_directory_atomically(target, [](const std::filesystem::path& tmp) {
                spit(tmp / "config.json", "{\"v\": 1}");
                spit(tmp / "old-only.txt", "x");
                return Status::OK();
              }).is_ok());
  EXPECT_EQ(slurp(target / "config.json"), "{\"v\": 1}");

  std::filesystem::path seen_temp;
  ASSERT_TRUE(write_directory_atomically(target.string() + "/", [&](const std::filesystem::path& tmp) {
                seen_temp = tmp;
                EXPECT_TRUE(std::filesystem::is_empty(tmp));
                EXPECT_EQ(tmp.parent_path(), target.parent_path());
                std::filesystem::create_directories(tmp / "sub");
                spit(tmp / "sub" / "model.safetensors", "weights");
                return write_file_atomically(tmp / "config.json", "{\"v\": 2}");
              }).is_ok());
  EXPECT_TRUE(is_atomic_temp_file_name(seen_temp.filename().string()));
  EXPECT_EQ(slurp(target / "config.json"), "{\"v\": 2}");
  EXPECT_EQ(slurp(target / "sub" / "model.safetensors"), "weights");
  EXPECT_FALSE(std::filesystem::exists(target / "old-only.txt"));
  // Only the target is left: no temporary or old directory beside it.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(target.parent_path())) {
    names.push_back(entry.path().filename());
  }
  EXPECT_EQ(names, std::vector<std::string>{"checkpoint"});
}

TEST(WriteDirectoryAtomicallyTest, FailureKeepsTheOldDirectory) {
  TempDir dir;
  const auto target = dir / "ckpt";
  std::filesystem::create_directories(target);
  spit(target / "config.json", "old");
  Status status = write_directory_atomically(target, [](const std::filesystem::path& tmp) {
    spit(tmp / "config.json", "half-written");
    return Status::resource_exhausted("disk full");
  });
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("ckpt"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("disk full"), std::string::npos) << status.message();
  EXPECT_EQ(slurp(target / "config.json"), "old");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ckpt"});
}

TEST(WriteDirectoryAtomicallyTest, RefusesToReplaceAFile) {
  TempDir dir;
  spit(dir / "file", "x");
  Status status = write_directory_atomically(dir / "file", [](const std::filesystem::path&) { return Status::OK(); });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(slurp(dir / "file"), "x");
  EXPECT_EQ(write_directory_atomically(dir / ".", [](const std::filesystem::path&) { return Status::OK(); }).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flywheel
