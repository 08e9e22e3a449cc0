#include "feedback/auth.h"

#include <arpa/inet.h>

#include <cstdio>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/text.h"
#include "feedback/key_secret.h"

namespace flywheel::feedback {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds the cache when clients present many different bad keys.
constexpr size_t kMaxCachedKeys = 10000;

Status unauthenticated(std::string message) { return Status(StatusCode::kUnauthenticated, std::move(message)); }

// The failed-lookup bucket of a client address: an IPv6 client holds a
// whole /64 (it can rotate through its addresses at will), so its /64 is
// one bucket; IPv4 (and IPv4-mapped) addresses are their own.
std::string lookup_bucket(std::string_view client) {
  unsigned char bytes[16];
  const std::string address(client);
  if (inet_pton(AF_INET6, address.c_str(), bytes) != 1 || IN6_IS_ADDR_V4MAPPED(reinterpret_cast<in6_addr*>(bytes)))
    return address;
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
  return prefix;
}

Principal principal_for(const ApiKey& key) { return {key.tenant, key.id, key.admin, key.rpm, key.tpm, true}; }

}  // namespace

struct Authenticator::Impl {
  struct CachedKey {
    std::optional<ApiKey> key;
    Clock::time_point expires;
  };

  Impl(Store& s, AuthOptions o) : store(s), options(o) {}

  Store& store;
  const AuthOptions options;
  RateLimiter failures;  // failed lookups by client address
  std::mutex mutex;
  std::unordered_map<std::string, CachedKey> keys;  // by the secret's SHA-256
  // Hashes of keys found valid since start (bounded): their lookups are not
  // refused when their address is over its failed-lookup limit, so guesses
  // from a shared address (a NAT, a proxy) do not lock its good keys out.
  // They are still looked up, so revocation takes effect as usual.
  std::unordered_set<std::string> known_good;
  std::optional<bool> any_active_key;
  Clock::time_point active_expires;

  Result<std::optional<ApiKey>> find(const std::string& secret, std::string_view client) {
    const std::string hash = key_secret_hash(secret);
    {
      std::lock_guard lock(mutex);
      if (auto it = keys.find(hash); it != keys.end() && Clock::now() < it->second.expires) return it->second.key;
    }
    // Not cached: a query, which an address that keeps guessing does not get
    // (unless the key has been good before).
    const std::string bucket = lookup_bucket(client);
    bool was_good = false;
    {
      std::lock_guard lock(mutex);
      was_good = known_good.contains(hash);
    }
    if (!was_good) {
      const QuotaDecision allowed = failures.check_failures(bucket, kFailedLookupsPerMinute);
      if (!allowed.allowed) return allowed.status();
    }
    FW_ASSIGN_OR_RETURN(std::optional<ApiKey> key, store.find_key(secret));
    if (!key) failures.add_failure(bucket, kFailedLookupsPerMinute);
    std::lock_guard lock(mutex);
    if (key) {
      if (known_good.size() >= kMaxCachedKeys) known_good.clear();
      known_good.insert(hash);
    } else {
      known_good.erase(hash);
    }
    if (keys.size() >= kMaxCachedKeys) {
      // Expired entries go first, then unknown keys: good keys stay cached.
      const auto now = Clock::now();
      std::erase_if(keys, [&](const auto& e) { return e.second.expires <= now; });
      if (keys.size() >= kMaxCachedKeys) std::erase_if(keys, [](const auto& e) { return !e.second.key; });
      if (keys.size() >= kMaxCachedKeys) keys.clear();
    }
    keys[hash] = {key, Clock::now() + options.cache_ttl};
    return key;
  }
};

Authenticator::Authenticator(Store& store, AuthOptions options) : impl_(std::make_unique<Impl>(store, options)) {}
Authenticator::~Authenticator() = default;

Result<bool> Authenticator::enforced() {
  if (impl_->options.required) return true;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->any_active_key && Clock::now() < impl_->active_expires) return *impl_->any_active_key;
  }
  FW_ASSIGN_OR_RETURN(int64_t active, impl_->store.active_key_count());
  std::lock_guard lock(impl_->mutex);
  impl_->any_active_key = active > 0;
  impl_->active_expires = Clock::now() + impl_->options.cache_ttl;
  return active > 0;
}

void Authenticator::clear_cache() {
  std::lock_guard lock(impl_->mutex);
  impl_->keys.clear();
  impl_->any_active_key.reset();
}

Result<Principal> Authenticator::authenticate(std::string_view authorization_header, std::string_view client_address) {
  FW_ASSIGN_OR_RETURN(bool enforce, enforced());
  // Not enforced: anonymous and never admin (fail closed), whatever key is sent.
  if (!enforce) return Principal{"", "", false, 0, 0, false};

  const std::string_view header = trim_spaces_and_tabs(authorization_header);
  if (header.empty())
    return unauthenticated(
        "missing API key: send the header 'Authorization: Bearer fw-...' (an administrator creates "
        "keys with 'flywheel keys create --tenant NAME')");
  const size_t space = header.find_first_of(" \t");
  if (space == std::string_view::npos || ascii_lower(header.substr(0, space)) != "bearer")
    return unauthenticated("malformed Authorization header: expected 'Bearer fw-...'");
  const std::string secret(trim_spaces_and_tabs(header.substr(space)));
  if (!is_well_formed_key_secret(secret))
    return unauthenticated("malformed API key: expected 'fw-' followed by 43 characters");

  FW_ASSIGN_OR_RETURN(std::optional<ApiKey> key, impl_->find(secret, client_address));
  if (!key) return unauthenticated("unknown or revoked API key '" + secret.substr(0, kKeyDisplayPrefixLength) + "...'");
  return principal_for(*key);
}

}  // namespace flywheel::feedback
