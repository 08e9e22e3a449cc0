// Authenticator: when auth is enforced, what each bad header gets, what a
// good key gives, and that revocation reaches a cached key within the TTL.
#include "feedback/auth.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/core/test_util.h"

namespace flywheel::feedback {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_store((dir_ / "auth.db").string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(*store);
  }

  NewApiKey create(const std::string& tenant, bool admin = false) {
    auto key = store_->create_key(tenant, 60, 1000, admin);
    EXPECT_TRUE(key.ok()) << key.status().to_string();
    return *key;
  }

  static void expect_unauthenticated(const Result<Principal>& r, const std::string& words) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status().to_string();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  }

  flywheel::testing_util::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(AuthTest, OpenWhileNoKeyExists) {
  Authenticator auth(*store_);
  for (const char* header : {"", "Bearer fw-whatever", "garbage"}) {
    auto p = auth.authenticate(header);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(p->tenant, "");
    EXPECT_FALSE(p->authenticated);
    EXPECT_EQ(p->rpm, 0);
  }
  EXPECT_FALSE(*auth.enforced());
}

TEST_F(AuthTest, RequiredRefusesRequestsEvenWithoutKeys) {
  Authenticator auth(*store_, {.required = true});
  EXPECT_TRUE(*auth.enforced());
  expect_unauthenticated(auth.authenticate(""), "missing API key");
}

TEST_F(AuthTest, BadHeadersAreRefusedWithTheReason) {
  NewApiKey key = create("acme");
  Authenticator auth(*store_);
  EXPECT_TRUE(*auth.enforced());
  expect_unauthenticated(auth.authenticate(""), "missing API key");
  expect_unauthenticated(auth.authenticate("   "), "missing API key");
  expect_unauthenticated(auth.authenticate(key.secret), "malformed Authorization header");
  expect_unauthenticated(auth.authenticate("Basic " + key.secret), "malformed Authorization header");
  expect_unauthenticated(auth.authenticate("Bearer sk-123"), "malformed API key");
  std::string unknown = "fw-" + std::string(43, 'Q');
  expect_unauthenticated(auth.authenticate("Bearer " + unknown), "unknown or revoked API key 'fw-QQQQ...'");
}

TEST_F(AuthTest, AGoodKeyGivesItsPrincipal) {
  NewApiKey key = create("acme", true);
  Authenticator auth(*store_);
  for (const std::string& header : {"Bearer " + key.secret, "bearer  " + key.secret + " "}) {
    auto p = auth.authenticate(header);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(p->tenant, "acme");
    EXPECT_EQ(p->key_id, key.key.id);
    EXPECT_TRUE(p->admin);
    EXPECT_EQ(p->rpm, 60);
    EXPECT_EQ(p->tpm, 1000);
    EXPECT_TRUE(p->authenticated);
  }
}

TEST_F(AuthTest, RevocationTakesEffectWithinTheCacheTtl) {
  NewApiKey keep = create("acme");
  NewApiKey key = create("acme");
  const std::string header = "Bearer " + key.secret;
  {
    Authenticator cached(*store_, {.cache_ttl = std::chrono::hours(1)});
    ASSERT_TRUE(cached.authenticate(header).ok());
    ASSERT_TRUE(store_->revoke_key(key.key.id).ok());
    EXPECT_TRUE(cached.authenticate(header).ok()) << "within the TTL the cached answer stands";
    cached.clear_cache();
    expect_unauthenticated(cached.authenticate(header), "unknown or revoked");
  }
  ASSERT_TRUE(store_->revoke_key(keep.key.id).ok());
  NewApiKey fresh = create("beta");
  Authenticator short_ttl(*store_, {.cache_ttl = std::chrono::milliseconds(30)});
  ASSERT_TRUE(short_ttl.authenticate("Bearer " + fresh.secret).ok());
  ASSERT_TRUE(store_->revoke_key(fresh.key.id).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  // No active key is left, so auth is off again: anonymous, not beta.
  auto p = short_ttl.authenticate("Bearer " + fresh.secret);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->authenticated);
}

TEST_F(AuthTest, StoreErrorsAreNotAuthenticationErrors) {
  // A store that cannot answer must not turn into "unknown key" (a client
  // would drop a good key) nor let the request through.
  class Unreachable : public Store {
   public:
    Status append(std::span<const SuggestionEvent>, std::span<const OutcomeEvent>) override { return down(); }
    Result<std::vector<SuggestionWithOutcomes>> events(const EventQuery&) override { return down(); }
    Result<int64_t> count_suggestions(const std::string&) override { return down(); }
    Result<int64_t> count_outcomes(const std::string&) override { return down(); }
    Result<NewApiKey> create_key(const std::string&, int64_t, int64_t, bool) override { return down(); }
    Result<std::vector<ApiKey>> list_keys(const std::string&) override { return down(); }
    Status revoke_key(const std::string&) override { return down(); }
    Result<std::optional<ApiKey>> find_key(const std::string&) override { return down(); }
    Result<int64_t> active_key_count() override { return down(); }
    Status add_usage(std::span<const UsageRecord>, int64_t) override { return down(); }
    Result<std::vector<UsageRecord>> usage(const std::string&, int64_t, std::optional<int64_t>) override {
      return down();
    }
    std::string kind() const override { return "down"; }
    static Status down() { return Status(StatusCode::kUnavailable, "database is down"); }
  } unreachable;
  Authenticator auth(unreachable);
  EXPECT_EQ(auth.authenticate("Bearer fw-" + std::string(43, 'a')).status().code(), StatusCode::kUnavailable);
  Authenticator required(unreachable, {.required = true});
  EXPECT_EQ(required.authenticate("Bearer fw-" + std::string(43, 'a')).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flywheel::feedback
