// Store over a SqlConnection: the query text and row mapping shared by the
// SQLite and PostgreSQL stores (open_store picks the connection).
//
// Thread-safety: a mutex serializes the connection. Errors: the connection's.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "feedback/sql_connection.h"
#include "feedback/store.h"

namespace flywheel::feedback {

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlConnection> connection);

  Status append(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes) override;
  Status append_with_usage(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes,
                           std::span<const UsageBatch> usage) override;
  Result<std::vector<SuggestionWithOutcomes>> events(const EventQuery& query) override;
  Result<int64_t> count_suggestions(const std::string& tenant) override;
  Result<int64_t> count_outcomes(const std::string& tenant) override;

  Result<NewApiKey> create_key(const std::string& tenant, int64_t rpm, int64_t tpm, bool admin) override;
  Result<std::vector<ApiKey>> list_keys(const std::string& tenant) override;
  Status revoke_key(const std::string& key_id) override;
  Result<std::optional<ApiKey>> find_key(const std::string& secret) override;
  Result<int64_t> active_key_count() override;

  Status add_usage(std::span<const UsageRecord> records, int64_t at_ms) override;
  Result<std::vector<UsageRecord>> usage(const std::string& tenant, int64_t since_ms,
                                         std::optional<int64_t> until_ms) override;

  std::string kind() const override;

 private:
  Status transact(TransactionMode mode, const std::function<Status(SqlTransaction&)>& body);
  Result<int64_t> count(std::string_view sql, const std::string& tenant);

  std::mutex mutex_;
  std::unique_ptr<SqlConnection> connection_;
};

}  // namespace flywheel::feedback
