// API-key authentication and per-tenant quotas for the server.
//
// Authenticator turns an HTTP Authorization header ("Bearer fw-...") into a
// Principal: the key's tenant, id, admin flag and quota. Auth is enforced
// when the store holds at least one active key, or always with
// AuthOptions::required; otherwise every request is the anonymous principal
// (tenant "", not authenticated, never admin: the server limits it to
// clients on its own machine, see serve/router.h). Admin always needs an
// admin key, so revoking the last key closes the admin routes instead of
// opening them.
// Key lookups (found or not) and the active-key count are cached for
// cache_ttl (5 s), so a `flywheel keys revoke` takes effect within 5 s on
// every server sharing the database, without a database query per request.
// A lookup that misses the cache costs a query on the store the event writer
// also uses: each client address (an IPv6 client's /64) may fail
// kFailedLookupsPerMinute of them (a burst of that many, then that many a
// minute); past that, keys not in the cache are refused (kResourceExhausted)
// before any query, until the address's bucket refills, except keys this
// server has found valid before (so guesses from a shared NAT or proxy
// address do not lock out its users; a key new to the server waits for the
// refill like a guess).
//
// RateLimiter: token buckets per tenant, one for requests (capacity rpm,
// refilled at rpm per minute) and one for tokens (tpm). A request is refused
// while either bucket is empty; tokens are charged after the fact with
// add_tokens(), so a long completion can push the token bucket below zero and
// the next requests wait until it refills. Limits of 0 mean unlimited. The
// buckets belong to the tenant: all of its keys share them, each request
// using the limits of the key it presents. It also keeps the failed-lookup
// buckets by client address (check_failures / add_failure), bounded in
// number.
//
// Thread-safety: both classes may be used from any number of threads.
// Errors: authenticate() returns kUnauthenticated (missing, malformed,
// unknown or revoked key) with a message for the client, kResourceExhausted
// when the client address has failed too many lookups, or the store's error
// (kUnavailable, ...) when the key cannot be checked.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "feedback/store.h"

namespace flywheel::feedback {

struct Principal {
  std::string tenant;          // "" when auth is not enforced
  std::string key_id;          // "" when auth is not enforced
  bool admin = false;          // only from a key with the admin flag
  int64_t rpm = 0;             // 0 = unlimited
  int64_t tpm = 0;             // 0 = unlimited
  bool authenticated = false;  // false for the anonymous principal
};

// Unknown or revoked keys a client address may present per minute (and in a
// burst) before keys missing from the cache are refused without a lookup.
inline constexpr int64_t kFailedLookupsPerMinute = 30;

struct AuthOptions {
  bool required = false;  // refuse requests without a valid key even when no key exists yet
  std::chrono::milliseconds cache_ttl{5000};
};

class Authenticator {
 public:
  explicit Authenticator(Store& store, AuthOptions options = {});
  ~Authenticator();

  // `authorization_header` is the header's value ("" when absent);
  // `client_address` the peer's address, for the failed-lookup limit.
  Result<Principal> authenticate(std::string_view authorization_header, std::string_view client_address = {});
  // Whether requests need a key now (required, or an active key exists).
  Result<bool> enforced();
  // Forgets cached lookups (tests, or after a local `keys revoke`).
  void clear_cache();

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct QuotaDecision {
  bool allowed = true;
  int retry_after_s = 0;  // when refused: seconds until a request would pass (for Retry-After)
  std::string message;    // when refused: which quota, its limit, when to retry

  // kResourceExhausted with `message` when refused.
  Status status() const;
};

class RateLimiter {
 public:
  // `now_ms` is the clock (milliseconds, any epoch); tests pass a fake one.
  explicit RateLimiter(std::function<int64_t()> now_ms = {});
  ~RateLimiter();

  // Takes one request from the principal's tenant, or says when to come back.
  QuotaDecision check_request(const Principal& principal);
  // Charges prompt + completion tokens after a request has run.
  void add_tokens(const Principal& principal, int64_t tokens);

  // Failed key lookups of one client address, `per_minute` a minute: refused
  // while its bucket is empty (takes nothing); add_failure() takes one.
  QuotaDecision check_failures(std::string_view address, int64_t per_minute);
  void add_failure(std::string_view address, int64_t per_minute);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::feedback
