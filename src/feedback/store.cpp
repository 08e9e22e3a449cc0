#include "feedback/store.h"

#include "feedback/migrations.h"
#include "feedback/postgres_connection.h"
#include "feedback/sql_store.h"
#include "feedback/sqlite_connection.h"

namespace flywheel::feedback {

Status Store::append_with_usage(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes,
                                std::span<const UsageBatch> usage) {
  FW_RETURN_IF_ERROR(append(suggestions, outcomes));
  for (const UsageBatch& batch : usage) FW_RETURN_IF_ERROR(add_usage(batch.records, batch.at_ms));
  return Status::OK();
}

Result<std::unique_ptr<Store>> open_store(const std::string& url) {
  if (url.empty()) return Status::invalid_argument("no database given (a file path or postgresql://...)");
  const bool postgres = url.starts_with("postgresql://") || url.starts_with("postgres://");
  FW_ASSIGN_OR_RETURN(std::unique_ptr<SqlConnection> connection,
                      postgres ? open_postgres_connection(url) : open_sqlite_connection(url));
  FW_RETURN_IF_ERROR(migrate(*connection).with_context(postgres ? redact_password(url) : url));
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(connection)));
}

}  // namespace flywheel::feedback
