#include "data/token_shard.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/hash.h"
#include "data/dataset.h"
#include "tests/data/data_test_util.h"

namespace flywheel {
namespace {

using data_test::TempDir;

const std::string kHash = sha256_hex("tokenizer");

void flip_byte(const std::filesystem::path& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5A));
}

TEST(TokenShard, RoundTripsBothWidths) {
  TempDir dir;
  for (uint32_t width : {2u, 4u}) {
    const std::vector<TokenId> tokens = {1, 2, 3, 65535, 0, 7, width == 4 ? 1 << 20 : 9};
    const std::vector<uint64_t> offsets = {0, 3, 3, 5, 7};  // an empty document in the middle
    const auto path = dir / ("shard" + std::to_string(width) + ".bin");
    uint64_t checksum = 0;
    ASSERT_TRUE(write_token_shard(path, tokens, offsets, width, kHash, &checksum).ok());
    auto shard = TokenShard::open(path);
    ASSERT_TRUE(shard.ok()) << shard.status().to_string();
    EXPECT_EQ(shard->token_bytes(), width);
    EXPECT_EQ(shard->token_count(), tokens.size());
    EXPECT_EQ(shard->document_count(), 4u);
    EXPECT_EQ(shard->tokenizer_hash(), kHash);
    EXPECT_EQ(shard->checksum(), checksum);
    std::vector<TokenId> all(tokens.size());
    shard->read_tokens(0, tokens.size(), all.data());
    EXPECT_EQ(all, tokens);
    EXPECT_EQ(shard->document(0), (std::vector<TokenId>{1, 2, 3}));
    EXPECT_TRUE(shard->document(1).empty());
    EXPECT_EQ(shard->document(3), (std::vector<TokenId>(tokens.begin() + 5, tokens.end())));
    EXPECT_EQ(shard->token(3), 65535);
    // Header, tokens, padding to 8, offsets.
    const size_t tokens_end = kTokenShardHeaderBytes + tokens.size() * width;
    EXPECT_EQ(std::filesystem::file_size(path), tokens_end + (8 - tokens_end % 8) % 8 + 8 * offsets.size());
  }
}

TEST(TokenShard, WidthFollowsVocabulary) {
  EXPECT_EQ(token_bytes_for_vocab(65536), 2u);
  EXPECT_EQ(token_bytes_for_vocab(65537), 4u);
  TempDir dir;
  const std::vector<TokenId> tokens = {70000};
  const std::vector<uint64_t> offsets = {0, 1};
  Status s = write_token_shard(dir / "x.bin", tokens, offsets, 2, kHash);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("70000"), std::string::npos);
}

class CorruptShard : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<TokenId> tokens(1000);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<TokenId>(i * 13 % 4000);
    ASSERT_TRUE(write_token_shard(path_, tokens, std::vector<uint64_t>{0, 400, 1000}, 2, kHash).ok());
  }
  void expect_error(const std::string& words) {
    auto shard = TokenShard::open(path_);
    ASSERT_FALSE(shard.ok());
    EXPECT_EQ(shard.status().code(), StatusCode::kCorruption) << shard.status().to_string();
    EXPECT_NE(shard.status().message().find(path_.string()), std::string::npos) << shard.status().message();
    EXPECT_NE(shard.status().message().find(words), std::string::npos) << shard.status().message();
  }
  TempDir dir_;
  std::filesystem::path path_ = dir_ / "train-00000.bin";
};

TEST_F(CorruptShard, PayloadByteFlipFailsChecksum) {
  flip_byte(path_, kTokenShardHeaderBytes + 777);
  expect_error("checksum");
  EXPECT_TRUE(TokenShard::open(path_, /*verify_checksum=*/false).ok());  // only the checksum catches it
}

TEST_F(CorruptShard, HeaderByteFlip) {
  flip_byte(path_, 17);  // the token count
  expect_error("header");
}

TEST_F(CorruptShard, BadMagic) {
  flip_byte(path_, 0);
  expect_error("magic");
}

TEST_F(CorruptShard, Truncated) {
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 9);
  expect_error("truncated");
  std::filesystem::resize_file(path_, 40);
  expect_error("truncated");
}

TEST_F(CorruptShard, TrailingBytes) {
  std::ofstream(path_, std::ios::app | std::ios::binary) << "junk";
  expect_error("trailing bytes");
}

TEST(TokenShard, MissingFileIsNotFound) {
  TempDir dir;
  auto shard = TokenShard::open(dir / "none.bin");
  EXPECT_EQ(shard.status().code(), StatusCode::kNotFound);
}

TEST(Dataset, MissingManifestSaysHowToMakeOne) {
  TempDir dir;
  auto dataset = Dataset::open(dir.path());
  ASSERT_FALSE(dataset.ok());
  EXPECT_EQ(dataset.status().code(), StatusCode::kNotFound);
  EXPECT_NE(dataset.status().message().find("flywheel data ingest"), std::string::npos);
}

}  // namespace
}  // namespace flywheel
