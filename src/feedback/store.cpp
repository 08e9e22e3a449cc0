#include "feedback/store.h"

#include "feedback/migrations.h"
#include "feedback/sql_store.h"

namespace flywheel::feedback {

Status Store::append_with_usage(std::span<const SuggestionEvent> suggestions, std::span<const OutcomeEvent> outcomes,
                                std::span<const UsageBatch> usage) {
  FW_RETURN_IF_ERROR(append(suggestions, outcomes));
  for (const UsageBatch& batch : usage) FW_RETURN_IF_ERROR(add_usage(batch.records, batch.at_ms));
  return Status::OK();
}

Result<std::unique_ptr<Store>> open_store(const std::string& url) {
  FW_ASSIGN_OR_RETURN(std::unique_ptr<SqlConnection> connection, open_sql_connection(url));
  FW_RETURN_IF_ERROR(migrate(*connection).with_context(printable_url(url)));
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(connection)));
}

}  // namespace flywheel::feedback
