// RateLimiter on a fake clock: request and token buckets per tenant, the
// retry-after they report, and exact counting under concurrent callers.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "feedback/auth.h"

namespace flywheel::feedback {
namespace {

class RateLimiterTest : public ::testing::Test {
 protected:
  Principal tenant(const std::string& name, int64_t rpm, int64_t tpm) {
    return {name, "key_" + name, false, rpm, tpm, true};
  }
  int64_t now_ = 1'000'000;
  RateLimiter limiter_{[this] { return now_; }};
};

TEST_F(RateLimiterTest, RequestsPerMinute) {
  const Principal p = tenant("acme", 3, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_.check_request(p).allowed) << i;
  QuotaDecision refused = limiter_.check_request(p);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 20);  // one request refills every 60 s / 3
  EXPECT_NE(refused.message.find("3 requests per minute"), std::string::npos) << refused.message;
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  now_ += 19'000;
  EXPECT_FALSE(limiter_.check_request(p).allowed);
  EXPECT_EQ(limiter_.check_request(p).retry_after_s, 1);
  now_ += 1'000;
  EXPECT_TRUE(limiter_.check_request(p).allowed);
  EXPECT_FALSE(limiter_.check_request(p).allowed);
  // A full minute idle refills to capacity, not beyond.
  now_ += 10 * 60'000;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_.check_request(p).allowed);
  EXPECT_FALSE(limiter_.check_request(p).allowed);
}

TEST_F(RateLimiterTest, TokensPerMinuteAreChargedAfterTheFact) {
  const Principal p = tenant("acme", 0, 600);
  EXPECT_TRUE(limiter_.check_request(p).allowed);
  limiter_.add_tokens(p, 1000);  // a long completion overdraws the bucket: 600 - 1000 = -400
  QuotaDecision refused = limiter_.check_request(p);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 41);  // 401 tokens at 10 per second
  EXPECT_NE(refused.message.find("600 tokens per minute"), std::string::npos) << refused.message;
  now_ += 40'000;
  EXPECT_FALSE(limiter_.check_request(p).allowed);
  now_ += 1'000;
  EXPECT_TRUE(limiter_.check_request(p).allowed);
}

TEST_F(RateLimiterTest, ARefusalForTokensKeepsTheRequestSlot) {
  const Principal p = tenant("acme", 2, 100);
  limiter_.add_tokens(p, 100);
  EXPECT_FALSE(limiter_.check_request(p).allowed);
  EXPECT_FALSE(limiter_.check_request(p).allowed);
  now_ += 6'000;  // +10 tokens; the two request slots are still there
  EXPECT_TRUE(limiter_.check_request(p).allowed);
  EXPECT_TRUE(limiter_.check_request(p).allowed);
  EXPECT_FALSE(limiter_.check_request(p).allowed);
}

TEST_F(RateLimiterTest, TenantsAreIndependentAndZeroIsUnlimited) {
  const Principal a = tenant("a", 1, 0), b = tenant("b", 1, 0), free = tenant("free", 0, 0);
  EXPECT_TRUE(limiter_.check_request(a).allowed);
  EXPECT_FALSE(limiter_.check_request(a).allowed);
  EXPECT_TRUE(limiter_.check_request(b).allowed);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter_.check_request(free).allowed);
  limiter_.add_tokens(free, 1'000'000);
  EXPECT_TRUE(limiter_.check_request(free).allowed);
  EXPECT_TRUE(limiter_.check_request(Principal{}).allowed);  // anonymous
}

TEST_F(RateLimiterTest, ConcurrentCallersGetExactlyTheQuota) {
  const Principal p = tenant("acme", 1000, 0);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += limiter_.check_request(p).allowed ? 1 : 0;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST_F(RateLimiterTest, FailedLookupsPerAddress) {
  // Nothing failed yet: allowed, and checking takes nothing.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter_.check_failures("10.0.0.9", 2).allowed);
  limiter_.add_failure("10.0.0.9", 2);
  EXPECT_TRUE(limiter_.check_failures("10.0.0.9", 2).allowed);
  limiter_.add_failure("10.0.0.9", 2);
  QuotaDecision refused = limiter_.check_failures("10.0.0.9", 2);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 30);  // one lookup refills every 60 s / 2
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(limiter_.check_failures("10.0.0.10", 2).allowed) << "addresses have their own buckets";
  now_ += 30'000;
  EXPECT_TRUE(limiter_.check_failures("10.0.0.9", 2).allowed);
}

}  // namespace
}  // namespace flywheel::feedback
