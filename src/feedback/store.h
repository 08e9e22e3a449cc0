// The feedback store: events (suggestions, outcomes), API keys with their
// tenant and quota, and usage metering, in SQLite (WAL mode, the default) or
// PostgreSQL (libpqxx, at scale), with the same schema and migrations.
//
// Every query that returns events takes a tenant and returns only that
// tenant's rows ("" is the tenant of an unauthenticated server).
//
// Thread-safety: a Store may be used from several threads; implementations
// serialize access to their connection internally. For the request path use
// EventWriter (event_writer.h), which batches writes with group commit.
// Errors: Status values; a database that cannot be opened or migrated names
// the URL (without its password) and the reason.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "feedback/events.h"

namespace flywheel::feedback {

struct ApiKey {
  std::string id;  // public id, e.g. "key_3f2a9c1b" (shown by `keys list`)
  std::string tenant;
  std::string prefix;  // first characters of the secret, for people to recognise it
  int64_t rpm = 0;     // requests per minute; 0 = unlimited
  int64_t tpm = 0;     // tokens (prompt + completion) per minute; 0 = unlimited
  bool admin = false;  // may call admin routes (hot swap)
  int64_t created_ms = 0;
  std::optional<int64_t> revoked_ms;
};

// A key as created: the secret is shown once and never stored.
struct NewApiKey {
  ApiKey key;
  std::string secret;  // "fw-" + 43 url-safe base64 characters (256 random bits)
};

struct UsageRecord {
  std::string tenant;
  std::string model_id;
  std::string route;
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// Usage records metered at one time (EventWriter carries several per commit).
struct UsageBatch {
  std::vector<UsageRecord> records;
  int64_t at_ms = 0;
};

struct EventQuery {
  std::string tenant;
  int64_t since_ms = 0;             // shown_at_ms >= since_ms
  std::optional<int64_t> until_ms;  // shown_at_ms < until_ms
  std::string source;               // "" = any
  std::string session;              // "" = any; else only this session's (a replay run's id)
  std::string id;                   // one suggestion's id; "" = any
  int64_t limit = 0;                // 0 = all
};

// A suggestion with the outcomes recorded for it, oldest first.
struct SuggestionWithOutcomes {
  SuggestionEvent suggestion;
  std::vector<OutcomeEvent> outcomes;
};

class Store {
 public:
  virtual ~Store() = default;

  // Events. Each call is one transaction: all rows are durable when it
  // returns OK, none are when it fails.
  virtual Status append(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes) = 0;
  // Events and usage in one transaction (EventWriter's group commit). The
  // default runs append() then add_usage() (two transactions); the SQL stores
  // override it with one.
  virtual Status append_with_usage(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes,
                                   std::span<const UsageBatch> usage);
  virtual Result<std::vector<SuggestionWithOutcomes>> events(const EventQuery& query) = 0;
  virtual Result<int64_t> count_suggestions(const std::string& tenant) = 0;
  virtual Result<int64_t> count_outcomes(const std::string& tenant) = 0;

  // API keys. The secret is hashed (sha256) before it is stored; lookup
  // hashes the presented secret and compares hashes in constant time.
  virtual Result<NewApiKey> create_key(const std::string& tenant, int64_t rpm, int64_t tpm, bool admin) = 0;
  virtual Result<std::vector<ApiKey>> list_keys(const std::string& tenant) = 0;  // "" = all tenants
  virtual Status revoke_key(const std::string& key_id) = 0;
  virtual Result<std::optional<ApiKey>> find_key(const std::string& secret) = 0;  // nullopt: unknown or revoked
  virtual Result<int64_t> active_key_count() = 0;

  // Usage metering, aggregated per (tenant, model, route, minute).
  virtual Status add_usage(std::span<const UsageRecord> records, int64_t at_ms) = 0;
  virtual Result<std::vector<UsageRecord>> usage(const std::string& tenant, int64_t since_ms,
                                                 std::optional<int64_t> until_ms = {}) = 0;

  // "sqlite" or "postgresql".
  virtual std::string kind() const = 0;
};

// `url` is a file path (SQLite, created if missing, WAL mode) or
// "postgresql://user:password@host:port/db" (PostgreSQL). Runs the
// migrations before returning.
Result<std::unique_ptr<Store>> open_store(const std::string& url);

}  // namespace flywheel::feedback
