// API keys in the store: made once with a secret that is shown once and
// stored only as its SHA-256; found by the secret, not after revocation;
// listed per tenant.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/hash.h"
#include "feedback/key_secret.h"
#include "tests/feedback/store_backends.h"

namespace flywheel::feedback::testing {
namespace {

template <typename Backend>
class ApiKeyTest : public BackendTest<Backend> {};
TYPED_TEST_SUITE(ApiKeyTest, Backends, BackendNames);

TYPED_TEST(ApiKeyTest, CreateFindRevoke) {
  auto created = this->store().create_key("acme", 60, 10000, true);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  EXPECT_TRUE(is_well_formed_key_secret(created->secret)) << created->secret;
  EXPECT_TRUE(created->key.id.starts_with("key_"));
  EXPECT_EQ(created->key.prefix, created->secret.substr(0, 7));
  EXPECT_EQ(*this->store().active_key_count(), 1);

  auto found = this->store().find_key(created->secret);
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  ASSERT_TRUE(found->has_value());
  const ApiKey& key = **found;
  EXPECT_EQ(key.id, created->key.id);
  EXPECT_EQ(key.tenant, "acme");
  EXPECT_EQ(key.rpm, 60);
  EXPECT_EQ(key.tpm, 10000);
  EXPECT_TRUE(key.admin);
  EXPECT_EQ(key.created_ms, created->key.created_ms);
  EXPECT_FALSE(key.revoked_ms);

  // One character off, malformed, or empty: not found (and no error).
  std::string wrong = created->secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (const std::string& other :
       {wrong, created->secret + "x", std::string(), created->key.id, key_secret_hash(created->secret)}) {
    auto miss = this->store().find_key(other);
    ASSERT_TRUE(miss.ok()) << miss.status().to_string();
    EXPECT_FALSE(miss->has_value()) << other;
  }

  ASSERT_TRUE(this->store().revoke_key(created->key.id).ok());
  EXPECT_FALSE(this->store().find_key(created->secret)->has_value());
  EXPECT_EQ(*this->store().active_key_count(), 0);
  auto listed = this->store().list_keys("acme");
  ASSERT_EQ(listed->size(), 1u);
  ASSERT_TRUE((*listed)[0].revoked_ms);
  const int64_t revoked_at = *(*listed)[0].revoked_ms;
  ASSERT_TRUE(this->store().revoke_key(created->key.id).ok());  // again: no change
  EXPECT_EQ(*(*this->store().list_keys("acme"))[0].revoked_ms, revoked_at);
  EXPECT_EQ(this->store().revoke_key("key_000000000000").code(), StatusCode::kNotFound);
}

TYPED_TEST(ApiKeyTest, ListsPerTenant) {
  ASSERT_TRUE(this->store().create_key("alpha", 0, 0, false).ok());
  ASSERT_TRUE(this->store().create_key("beta", 0, 0, false).ok());
  ASSERT_TRUE(this->store().create_key("alpha", 5, 0, false).ok());
  auto alpha = this->store().list_keys("alpha");
  ASSERT_TRUE(alpha.ok());
  ASSERT_EQ(alpha->size(), 2u);
  for (const ApiKey& k : *alpha) EXPECT_EQ(k.tenant, "alpha");
  EXPECT_EQ(this->store().list_keys("")->size(), 3u);
  EXPECT_EQ(this->store().list_keys("gamma")->size(), 0u);
  EXPECT_EQ(*this->store().active_key_count(), 3);
  EXPECT_EQ(this->store().create_key("alpha", -1, 0, false).status().code(), StatusCode::kInvalidArgument);
}

TEST(KeySecretTest, SecretsAre256RandomBitsInUrlSafeBase64) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto secret = new_key_secret();
    ASSERT_TRUE(secret.ok());
    ASSERT_EQ(secret->size(), 46u);
    EXPECT_TRUE(secret->starts_with("fw-"));
    EXPECT_EQ(secret->find_first_not_of("fw-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", 3),
              std::string::npos);
    EXPECT_TRUE(seen.insert(*secret).second);
  }
  // RFC 4648 test vectors, url-safe alphabet, no padding.
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("foob"), "Zm9vYg");
  EXPECT_EQ(base64url("\xfb\xff\xbf"), "-_-_");
  EXPECT_FALSE(is_well_formed_key_secret("fw-" + std::string(42, 'a')));
  EXPECT_FALSE(is_well_formed_key_secret("fw-" + std::string(42, 'a') + "+"));
  EXPECT_FALSE(is_well_formed_key_secret("sk-" + std::string(43, 'a')));
  EXPECT_TRUE(is_well_formed_key_secret("fw-" + std::string(43, 'a')));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(KeySecretTest, TheSecretIsNowhereInTheDatabaseFiles) {
  flywheel::testing_util::TempDir dir;
  const auto db = dir / "keys.db";
  std::string secret, hash;
  {
    auto store = open_store(db.string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto created = (*store)->create_key("acme", 0, 0, false);
    ASSERT_TRUE(created.ok());
    secret = created->secret;
    hash = key_secret_hash(secret);
    // The WAL holds the page while the store is open: check it too.
    std::string bytes;
    for (const char* suffix : {"", "-wal"}) bytes += slurp(db.string() + suffix);
    EXPECT_NE(bytes.find(hash), std::string::npos) << "the hash should be stored";
    EXPECT_EQ(bytes.find(secret.substr(3)), std::string::npos) << "the secret must not be stored";
  }
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) bytes += slurp(entry.path());
  EXPECT_NE(bytes.find(hash), std::string::npos);
  EXPECT_EQ(bytes.find(secret.substr(3)), std::string::npos);
  EXPECT_EQ(bytes.find(secret.substr(10)), std::string::npos);  // not even past the shown prefix
}

}  // namespace
}  // namespace flywheel::feedback::testing
