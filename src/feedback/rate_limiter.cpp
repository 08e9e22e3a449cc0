// RateLimiter (declared in auth.h): token buckets per tenant.
#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "feedback/auth.h"
#include "feedback/events.h"

namespace flywheel::feedback {
namespace {

constexpr int64_t kMinuteMs = 60'000;
// Client addresses with a failed-lookup bucket; past this, the full
// (refilled) buckets are forgotten first: they hold no information.
constexpr size_t kMaxAddresses = 65536;

// Holds up to `capacity` units and refills at `capacity` per minute; starts
// full. Levels are in units x 60000 (unit-milliseconds per minute), so that
// refills are exact integers and never leave a request short by a rounding error.
struct Bucket {
  int64_t level = 0;
  int64_t updated_ms = 0;
  bool started = false;

  void refill(int64_t capacity, int64_t now_ms) {
    if (!started) {
      level = capacity * kMinuteMs;
      started = true;
    } else if (now_ms > updated_ms) {
      level = std::min(capacity * kMinuteMs, level + (now_ms - updated_ms) * capacity);
    }
    updated_ms = std::max(updated_ms, now_ms);
  }

  bool has(int64_t units) const { return level >= units * kMinuteMs; }
  bool full(int64_t capacity) const { return level >= capacity * kMinuteMs; }
  void take(int64_t units) { level -= units * kMinuteMs; }

  // Whole seconds until the bucket holds `units` (at least 1).
  int seconds_until(int64_t units, int64_t capacity) const {
    const int64_t ms = (units * kMinuteMs - level + capacity - 1) / capacity;
    return static_cast<int>(std::max<int64_t>(1, (ms + 999) / 1000));
  }
};

}  // namespace

Status QuotaDecision::status() const { return allowed ? Status::OK() : Status::resource_exhausted(message); }

struct RateLimiter::Impl {
  struct Buckets {
    Bucket requests, tokens;
  };
  std::function<int64_t()> now_ms;
  std::mutex mutex;
  std::unordered_map<std::string, Buckets> tenants;
  std::unordered_map<std::string, Bucket> addresses;  // failed key lookups
};

RateLimiter::RateLimiter(std::function<int64_t()> now_ms) : impl_(std::make_unique<Impl>()) {
  impl_->now_ms = now_ms ? std::move(now_ms) : [] { return unix_millis_now(); };
}
RateLimiter::~RateLimiter() = default;

QuotaDecision RateLimiter::check_request(const Principal& p) {
  if (p.rpm <= 0 && p.tpm <= 0) return {};
  const int64_t now = impl_->now_ms();
  std::lock_guard lock(impl_->mutex);
  Impl::Buckets& b = impl_->tenants[p.tenant];
  // Tokens first: a refused request must not use up a request slot.
  if (p.tpm > 0) {
    b.tokens.refill(p.tpm, now);
    if (!b.tokens.has(1)) {
      const int wait = b.tokens.seconds_until(1, p.tpm);
      return {false, wait,
              "token quota exceeded: tenant '" + p.tenant + "' may use " + std::to_string(p.tpm) +
                  " tokens per minute; retry in " + std::to_string(wait) + " s"};
    }
  }
  if (p.rpm > 0) {
    b.requests.refill(p.rpm, now);
    if (!b.requests.has(1)) {
      const int wait = b.requests.seconds_until(1, p.rpm);
      return {false, wait,
              "rate limit exceeded: tenant '" + p.tenant + "' may make " + std::to_string(p.rpm) +
                  " requests per minute; retry in " + std::to_string(wait) + " s"};
    }
    b.requests.take(1);
  }
  return {};
}

void RateLimiter::add_tokens(const Principal& p, int64_t tokens) {
  if (p.tpm <= 0 || tokens <= 0) return;
  const int64_t now = impl_->now_ms();
  std::lock_guard lock(impl_->mutex);
  Bucket& bucket = impl_->tenants[p.tenant].tokens;
  bucket.refill(p.tpm, now);
  bucket.take(tokens);
}

QuotaDecision RateLimiter::check_failures(std::string_view address, int64_t per_minute) {
  if (per_minute <= 0) return {};
  const int64_t now = impl_->now_ms();
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->addresses.find(std::string(address));
  if (it == impl_->addresses.end()) return {};
  it->second.refill(per_minute, now);
  if (it->second.has(1)) return {};
  const int wait = it->second.seconds_until(1, per_minute);
  return {false, wait,
          "too many unknown API keys from this address (" + std::to_string(per_minute) +
              " a minute are looked up); retry in " + std::to_string(wait) + " s"};
}

void RateLimiter::add_failure(std::string_view address, int64_t per_minute) {
  if (per_minute <= 0) return;
  const int64_t now = impl_->now_ms();
  std::lock_guard lock(impl_->mutex);
  auto& addresses = impl_->addresses;
  if (addresses.size() >= kMaxAddresses && !addresses.contains(std::string(address))) {
    for (auto it = addresses.begin(); it != addresses.end();) {
      it->second.refill(per_minute, now);
      it = it->second.full(per_minute) ? addresses.erase(it) : std::next(it);
    }
    if (addresses.size() >= kMaxAddresses) addresses.clear();
  }
  Bucket& bucket = addresses[std::string(address)];
  bucket.refill(per_minute, now);
  bucket.take(1);
}

}  // namespace flywheel::feedback
