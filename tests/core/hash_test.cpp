#include "core/hash.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "test_util.h"

namespace flywheel {
namespace {

// FIPS 180-2 / NIST test vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingEqualsOneShotAndResets) {
  std::string data = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256 hasher;
  for (char c : data) hasher.update(std::string_view(&c, 1));
  EXPECT_EQ(hasher.finish_hex(), sha256_hex(data));
  hasher.update("abc");
  EXPECT_EQ(hasher.finish_hex(), sha256_hex("abc"));
  Sha256Digest digest = sha256("abc");
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[31], 0xad);
}

TEST(Sha256, HashesBytesIncludingNul) { EXPECT_NE(sha256_hex(std::string("a\0b", 3)), sha256_hex("ab")); }

TEST(Sha256File, MatchesInMemoryHash) {
  testing_util::TempDir dir;
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  ASSERT_TRUE(write_file_atomically(dir / "f", data).is_ok());
  auto hash = sha256_file(dir / "f");
  ASSERT_TRUE(hash.ok()) << hash.status().to_string();
  EXPECT_EQ(*hash, sha256_hex(data));
}

TEST(Sha256File, MissingFileIsNotFound) {
  auto hash = sha256_file("/nonexistent/flywheel/file");
  ASSERT_FALSE(hash.ok());
  EXPECT_EQ(hash.status().code(), StatusCode::kNotFound);
  EXPECT_NE(hash.status().message().find("/nonexistent/flywheel/file"), std::string::npos);
}

TEST(Xxh3, KnownValuesAndSeed) {
  // The empty-input value published by xxHash's own sanity checks.
  EXPECT_EQ(xxh3_64(""), 0x2D06800538D394C2ULL);
  // Pinned: stored hashes (dedup indexes) must not change between versions.
  EXPECT_EQ(xxh3_64("abc"), 0x78AF5F94892F3950ULL);
  EXPECT_NE(xxh3_64("abc", 1), xxh3_64("abc"));
  EXPECT_EQ(xxh3_64("abc", 1), xxh3_64("abc", 1));
}

TEST(Hex, RoundTripAndErrors) {
  EXPECT_EQ(to_hex(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(to_hex(""), "");
  auto bytes = from_hex("0001ABff");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(from_hex("abc").status().code(), StatusCode::kInvalidArgument);
  auto bad = from_hex("0g");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("position 1"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace flywheel
