// Authenticator: when auth is enforced, what each bad header gets, what a
// good key gives, that revocation reaches a cached key within the TTL, that
// the anonymous principal is never admin, and that an address guessing keys
// stops costing lookups.
#include "feedback/auth.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/core/test_util.h"
#include "tests/feedback/counting_store.h"

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
    EXPECT_FALSE(p->admin) << "an anonymous caller is never admin";
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
  // No active key is left: anonymous, not beta, and not admin either (the
  // revoked key must not open the admin routes).
  auto p = short_ttl.authenticate("Bearer " + fresh.secret);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->authenticated);
  EXPECT_FALSE(p->admin);
  EXPECT_EQ(p->tenant, "");
}

TEST_F(AuthTest, RevokingTheLastAdminKeyDoesNotMakeAnonymousAdmin) {
  NewApiKey admin = create("ops", true);
  Authenticator auth(*store_, {.cache_ttl = std::chrono::milliseconds(0)});
  auto before = auth.authenticate("Bearer " + admin.secret);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->admin);
  ASSERT_TRUE(store_->revoke_key(admin.key.id).ok());
  for (const std::string& header : {std::string(), "Bearer " + admin.secret}) {
    auto after = auth.authenticate(header);
    ASSERT_TRUE(after.ok()) << after.status().to_string();
    EXPECT_FALSE(after->admin) << "'" << header << "'";
  }
}

// Counts the key lookups that reach the database.
class LookupCountingStore : public testing::CountingStore {
 public:
  using CountingStore::CountingStore;
  Result<std::optional<ApiKey>> find_key(const std::string& s) override {
    ++lookups;
    return CountingStore::find_key(s);
  }
  std::atomic<int> lookups{0};
};

TEST_F(AuthTest, AnAddressGuessingKeysStopsCostingLookups) {
  auto inner = open_store((dir_ / "guess.db").string());
  ASSERT_TRUE(inner.ok());
  LookupCountingStore store(std::move(*inner));
  NewApiKey good = *store.create_key("acme", 0, 0, false);
  Authenticator auth(store);
  ASSERT_TRUE(auth.authenticate("Bearer " + good.secret, "10.0.0.1").ok());
  const int after_good = store.lookups;
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    std::string guess = "fw-" + std::string(40, 'A') + std::to_string(100 + i);
    auto r = auth.authenticate("Bearer " + guess, "10.0.0.66");
    ASSERT_FALSE(r.ok());
    if (r.status().code() == StatusCode::kResourceExhausted) ++refused;
  }
  // The bucket holds kFailedLookupsPerMinute; the loop takes well under the
  // 2 s one more token needs (60 s / 30), so at most one refill.
  EXPECT_LE(store.lookups - after_good, kFailedLookupsPerMinute + 1);
  EXPECT_GE(refused, 200 - kFailedLookupsPerMinute - 1);
  // Another address, and a cached good key from the guessing one, still pass.
  expect_unauthenticated(auth.authenticate("Bearer fw-" + std::string(43, 'Z'), "10.0.0.2"), "unknown or revoked");
  auto cached = auth.authenticate("Bearer " + good.secret, "10.0.0.66");
  ASSERT_TRUE(cached.ok()) << cached.status().to_string();
  EXPECT_EQ(cached->tenant, "acme");
}

TEST_F(AuthTest, GuessesFromASharedAddressDoNotLockOutItsKnownKeys) {
  auto inner = open_store((dir_ / "shared.db").string());
  ASSERT_TRUE(inner.ok());
  LookupCountingStore store(std::move(*inner));
  NewApiKey good = *store.create_key("acme", 0, 0, false);
  NewApiKey fresh = *store.create_key("acme", 0, 0, false);
  AuthOptions options;
  options.cache_ttl = std::chrono::milliseconds(1);  // every lookup misses the cache
  Authenticator auth(store, options);
  // Behind one NAT address: a user's good key, then someone guessing.
  ASSERT_TRUE(auth.authenticate("Bearer " + good.secret, "203.0.113.7").ok());
  for (int i = 0; i < kFailedLookupsPerMinute + 5; ++i)
    (void)auth.authenticate("Bearer fw-" + std::string(40, 'B') + std::to_string(100 + i), "203.0.113.7");
  auto guess = auth.authenticate("Bearer fw-" + std::string(43, 'C'), "203.0.113.7");
  ASSERT_EQ(guess.status().code(), StatusCode::kResourceExhausted) << guess.status().to_string();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The key the server has seen is still looked up (and so still honours a
  // revocation); one it has never seen waits for the refill like a guess.
  auto known = auth.authenticate("Bearer " + good.secret, "203.0.113.7");
  ASSERT_TRUE(known.ok()) << known.status().to_string();
  EXPECT_EQ(known->tenant, "acme");
  EXPECT_EQ(auth.authenticate("Bearer " + fresh.secret, "203.0.113.7").status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(store.revoke_key(good.key.id).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  expect_unauthenticated(auth.authenticate("Bearer " + good.secret, "203.0.113.7"), "unknown or revoked");
}

TEST_F(AuthTest, AnIpv6ClientGuessesFromOneBucketPerSlash64) {
  auto inner = open_store((dir_ / "v6.db").string());
  ASSERT_TRUE(inner.ok());
  LookupCountingStore store(std::move(*inner));
  (void)*store.create_key("acme", 0, 0, false);
  Authenticator auth(store);
  const int before = store.lookups;
  // A new address of its /64 for every guess.
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = auth.authenticate("Bearer fw-" + std::string(40, 'D') + std::to_string(100 + i),
                               "2001:db8:1:2::" + std::to_string(i + 1));
    if (r.status().code() == StatusCode::kResourceExhausted) ++refused;
  }
  EXPECT_LE(store.lookups - before, kFailedLookupsPerMinute + 1);
  EXPECT_GE(refused, 100 - kFailedLookupsPerMinute - 1);
  // Another /64 has its own bucket.
  expect_unauthenticated(auth.authenticate("Bearer fw-" + std::string(43, 'E'), "2001:db8:1:3::1"),
                         "unknown or revoked");
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
