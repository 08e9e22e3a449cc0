// The little a Store needs from a SQL database, so that the store's logic and
// query text are written once (sql_store.cpp) for SQLite and PostgreSQL.
//
// Statements use `?` placeholders; the PostgreSQL side numbers them ($1, $2, ...).
// Values come back typed from SQLite and as text from PostgreSQL; the sql_*
// accessors read either.
//
// Thread-safety: a SqlConnection belongs to one thread at a time (SqlStore
// holds a mutex around it).
// Errors: kUnavailable when the server cannot be reached or the database is
// busy, kIoError for disk failures, kInvalidArgument for rows the database
// refuses (constraints, bad text encoding); retrying only helps the first two.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace flywheel::feedback {

// std::monostate is SQL NULL.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

int64_t sql_int(const SqlValue& value);  // NULL reads as 0
double sql_double(const SqlValue& value);
std::string sql_text(const SqlValue& value);
std::optional<int64_t> sql_optional_int(const SqlValue& value);
std::optional<std::string> sql_optional_text(const SqlValue& value);

// Statements inside one transaction.
class SqlTransaction {
 public:
  virtual ~SqlTransaction() = default;
  virtual Status execute(std::string_view sql, std::span<const SqlValue> params = {}) = 0;
  virtual Result<std::vector<SqlRow>> query(std::string_view sql, std::span<const SqlValue> params = {}) = 0;
  // Several statements separated by ';', no parameters (schema migrations).
  virtual Status execute_script(std::string_view sql) = 0;
};

enum class TransactionMode { kRead, kWrite };

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  // Runs `body` in one transaction: committed (durably) when it returns OK,
  // rolled back otherwise.
  virtual Status transact(TransactionMode mode, const std::function<Status(SqlTransaction&)>& body) = 0;
  virtual std::string dialect() const = 0;  // "sqlite" or "postgresql"
};

// A database URL: postgresql:// or postgres:// is PostgreSQL, anything else a
// SQLite file path.
bool is_postgres_url(std::string_view url);
// The URL as errors and logs show it (a PostgreSQL password is hidden).
std::string printable_url(std::string_view url);
// Opens either kind (no migrations: each owner of tables runs its own).
Result<std::unique_ptr<SqlConnection>> open_sql_connection(const std::string& url);

// "?" -> "$1", "$2", ... outside quoted literals (PostgreSQL's placeholders).
std::string number_placeholders(std::string_view sql);

}  // namespace flywheel::feedback
