#include "feedback/migrations.h"

#include <array>

#include "feedback/events.h"

namespace flywheel::feedback {
namespace {

// Column types that both databases read the same way: TEXT, BIGINT, INTEGER,
// DOUBLE PRECISION. Booleans are INTEGER 0/1 (SQLite has no BOOLEAN).
constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE suggestions (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  model_id TEXT NOT NULL,
  source TEXT NOT NULL,
  session TEXT NOT NULL,
  repo TEXT NOT NULL,
  path TEXT NOT NULL,
  language TEXT NOT NULL,
  cursor_offset BIGINT NOT NULL,
  prefix_hash TEXT NOT NULL,
  suffix_hash TEXT NOT NULL,
  prefix_window TEXT NOT NULL,
  suffix_window TEXT NOT NULL,
  text TEXT NOT NULL,
  choice_index INTEGER NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  latency_ms DOUBLE PRECISION NOT NULL,
  shown_at_ms BIGINT NOT NULL
);
CREATE INDEX suggestions_by_tenant_time ON suggestions (tenant, shown_at_ms);
CREATE TABLE outcomes (
  id {serial_id},
  suggestion_id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  choice_index INTEGER NOT NULL,
  accepted_length BIGINT NOT NULL,
  final_text TEXT,
  at_ms BIGINT NOT NULL
);
CREATE INDEX outcomes_by_suggestion ON outcomes (tenant, suggestion_id);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  prefix TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL UNIQUE,
  rpm BIGINT NOT NULL,
  tpm BIGINT NOT NULL,
  admin INTEGER NOT NULL,
  created_ms BIGINT NOT NULL,
  revoked_ms BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant);
CREATE TABLE usage (
  tenant TEXT NOT NULL,
  model_id TEXT NOT NULL,
  route TEXT NOT NULL,
  minute_ms BIGINT NOT NULL,
  requests BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  PRIMARY KEY (tenant, minute_ms, model_id, route)
);
)sql";

constexpr std::string_view kMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "applied_ms BIGINT NOT NULL)";

Result<int> current_version(SqlTransaction& tx) {
  FW_ASSIGN_OR_RETURN(auto rows, tx.query("SELECT MAX(version) FROM schema_migrations"));
  return rows.empty() ? 0 : static_cast<int>(sql_int(rows[0][0]));
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {{1, "initial schema", kInitialSchema}};
  return list;
}

std::string migration_sql(const Migration& migration, std::string_view dialect) {
  std::string sql(migration.sql);
  constexpr std::string_view kSerial = "{serial_id}";
  const std::string_view serial = dialect == "postgresql" ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY";
  for (size_t at = sql.find(kSerial); at != std::string::npos; at = sql.find(kSerial, at))
    sql.replace(at, kSerial.size(), serial);
  return sql;
}

Status migrate(SqlConnection& connection) {
  const std::string dialect = connection.dialect();
  for (const Migration& migration : migrations()) {
    Status status = connection.transact(TransactionMode::kWrite, [&](SqlTransaction& tx) -> Status {
      // Two servers starting at once against one PostgreSQL database must not
      // both apply a step; SQLite's write transaction already serializes them.
      if (dialect == "postgresql") FW_RETURN_IF_ERROR(tx.execute("SELECT pg_advisory_xact_lock(7215438761)"));
      FW_RETURN_IF_ERROR(tx.execute(kMigrationsTable));
      FW_ASSIGN_OR_RETURN(int version, current_version(tx));
      if (version >= migration.version) return Status::OK();
      FW_RETURN_IF_ERROR(tx.execute_script(migration_sql(migration, dialect)));
      const std::array<SqlValue, 3> row = {int64_t{migration.version}, std::string(migration.name), unix_millis_now()};
      return tx.execute("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)", row);
    });
    if (!status.ok())
      return status.with_context("schema migration " + std::to_string(migration.version) + " (" +
                                 std::string(migration.name) + ")");
  }
  return Status::OK();
}

Result<int> schema_version(SqlConnection& connection) {
  int version = 0;
  FW_RETURN_IF_ERROR(connection.transact(TransactionMode::kRead, [&](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(version, current_version(tx));
    return Status::OK();
  }));
  return version;
}

}  // namespace flywheel::feedback
