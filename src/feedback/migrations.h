// The feedback schema as numbered migrations, one text for SQLite and
// PostgreSQL (the few words that differ are spelled per dialect), recorded in
// a `schema_migrations` table so that opening a database twice, or with a
// newer flywheel, applies each step exactly once.
//
// Thread-safety: plain functions over a connection the caller owns.
// Errors: the failing step's number and name, and the database's reason.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "feedback/sql_connection.h"

namespace flywheel::feedback {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // "{serial_id}" stands for the dialect's auto-increment primary key
};

const std::vector<Migration>& migrations();

// The migration's statements for `dialect` ("sqlite" or "postgresql").
std::string migration_sql(const Migration& migration, std::string_view dialect);

// Applies every migration newer than the database's, each in its own transaction.
Status migrate(SqlConnection& connection);

// The newest version applied to the database (0 for an empty one).
Result<int> schema_version(SqlConnection& connection);

}  // namespace flywheel::feedback
