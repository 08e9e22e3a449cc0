#include "feedback/sqlite_connection.h"

#include <sqlite3.h>

#include <unordered_map>

namespace flywheel::feedback {
namespace {

// Which codes a retry may cure (busy, locked, disk trouble) and which name
// rows the database refuses.
Status sqlite_status(sqlite3* db, int code, std::string_view what) {
  std::string message = std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(StatusCode::kUnavailable, message);
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Status::io_error(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::corruption(message);
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return Status::invalid_argument(message);
    default:
      return Status::internal(message);
  }
}

class SqliteConnection final : public SqlConnection, private SqlTransaction {
 public:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteConnection() override {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
    sqlite3_close_v2(db_);
  }

  Status configure() {
    sqlite3_busy_timeout(db_, 10000);
    // WAL: readers never block the writer; FULL: fsync the WAL on every commit.
    FW_RETURN_IF_ERROR(execute_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"));
    FW_ASSIGN_OR_RETURN(auto mode, query("PRAGMA journal_mode", {}));
    if (mode.empty() || sql_text(mode[0][0]) != "wal")
      return Status::io_error(path_ + ": SQLite cannot use WAL mode here (a file system without shared memory?)");
    return Status::OK();
  }

  Status transact(TransactionMode mode, const std::function<Status(SqlTransaction&)>& body) override {
    // IMMEDIATE takes the write lock up front, so a busy database waits in
    // BEGIN (busy_timeout) instead of failing half way through.
    FW_RETURN_IF_ERROR(execute_script(mode == TransactionMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN"));
    Status status = body(*this);
    if (status.ok()) status = execute_script("COMMIT");
    if (!status.ok() && !sqlite3_get_autocommit(db_)) (void)execute_script("ROLLBACK");
    return status;
  }

  std::string dialect() const override { return "sqlite"; }

 private:
  Status execute(std::string_view sql, std::span<const SqlValue> params) override {
    FW_ASSIGN_OR_RETURN(sqlite3_stmt * statement, prepare(sql, params));
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    }
    sqlite3_reset(statement);
    return rc == SQLITE_DONE ? Status::OK() : sqlite_status(db_, rc, path_);
  }

  Result<std::vector<SqlRow>> query(std::string_view sql, std::span<const SqlValue> params) override {
    FW_ASSIGN_OR_RETURN(sqlite3_stmt * statement, prepare(sql, params));
    std::vector<SqlRow> rows;
    int rc;
    const int columns = sqlite3_column_count(statement);
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      SqlRow& row = rows.emplace_back(columns);
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(statement, c)) {
          case SQLITE_INTEGER:
            row[c] = static_cast<int64_t>(sqlite3_column_int64(statement, c));
            break;
          case SQLITE_FLOAT:
            row[c] = sqlite3_column_double(statement, c);
            break;
          case SQLITE_NULL:
            break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, c));
            row[c] = std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement, c)));
          }
        }
      }
    }
    sqlite3_reset(statement);
    if (rc != SQLITE_DONE) return sqlite_status(db_, rc, path_);
    return rows;
  }

  Status execute_script(std::string_view sql) override {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error);
    if (rc == SQLITE_OK) return Status::OK();
    Status status = sqlite_status(db_, rc, path_);
    sqlite3_free(error);
    return status;
  }

  // Statements are prepared once per connection: the same few run for every event.
  Result<sqlite3_stmt*> prepare(std::string_view sql, std::span<const SqlValue> params) {
    auto [it, inserted] = statements_.try_emplace(std::string(sql), nullptr);
    if (inserted) {
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                        &it->second, nullptr);
      if (rc != SQLITE_OK) {
        statements_.erase(it);
        return sqlite_status(db_, rc, path_);
      }
    }
    sqlite3_stmt* statement = it->second;
    sqlite3_clear_bindings(statement);
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(statement, index, *v);
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        rc = sqlite3_bind_double(statement, index, *d);
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        rc = sqlite3_bind_text64(statement, index, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(statement, index);
      }
      if (rc != SQLITE_OK) return sqlite_status(db_, rc, path_);
    }
    return statement;
  }

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> open_sqlite_connection(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status status = sqlite_status(db, rc, "cannot open SQLite database " + path);
    sqlite3_close_v2(db);
    return status;
  }
  auto connection = std::make_unique<SqliteConnection>(db, path);
  FW_RETURN_IF_ERROR(connection->configure().with_context("cannot open SQLite database " + path));
  return std::unique_ptr<SqlConnection>(std::move(connection));
}

}  // namespace flywheel::feedback
