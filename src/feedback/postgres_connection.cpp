#include "feedback/postgres_connection.h"

#include <charconv>
#include <pqxx/pqxx>

namespace flywheel::feedback {
namespace {

// SQLSTATE classes: 08 connection, 40 rollback (serialization, deadlock),
// 53 resources, 57 operator intervention are worth a retry; 22 data and 23
// constraints name rows the database refuses.
Status pg_status(const std::exception& e, const std::string& where) {
  std::string message = where + ": " + e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr)
    return Status(StatusCode::kUnavailable, message);
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state_class = sql->sqlstate().substr(0, 2);
    if (state_class == "08" || state_class == "40" || state_class == "57")
      return Status(StatusCode::kUnavailable, message);
    if (state_class == "53") return Status::resource_exhausted(message);
    if (state_class == "22" || state_class == "23") return Status::invalid_argument(message);
  }
  return Status::internal(message);
}

class PostgresTransaction final : public SqlTransaction {
 public:
  PostgresTransaction(pqxx::work& work, const std::string& where) : work_(work), where_(where) {}

  Status execute(std::string_view sql, std::span<const SqlValue> params) override {
    auto rows = query(sql, params);
    return rows.ok() ? Status::OK() : rows.status();
  }

  Result<std::vector<SqlRow>> query(std::string_view sql, std::span<const SqlValue> params) override {
    // libpq takes parameters as text (NULL as a null pointer); doubles keep
    // every digit (shortest round-trip form).
    std::vector<std::string> text(params.size());
    std::vector<const char*> pointers(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (std::holds_alternative<std::monostate>(params[i])) continue;
      if (const auto* d = std::get_if<double>(&params[i])) {
        char buffer[64];
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), *d);
        text[i].assign(buffer, end);
      } else {
        text[i] = sql_text(params[i]);
      }
      pointers[i] = text[i].c_str();
    }
    try {
      const pqxx::result result =
          work_.exec_params(number_placeholders(sql), pqxx::prepare::make_dynamic_params(pointers));
      std::vector<SqlRow> rows;
      rows.reserve(result.size());
      for (const auto& row : result) {
        SqlRow& out = rows.emplace_back(row.size());
        for (pqxx::row::size_type c = 0; c < row.size(); ++c)
          if (!row[c].is_null()) out[c] = std::string(row[c].c_str(), row[c].size());
      }
      return rows;
    } catch (const std::exception& e) {
      return pg_status(e, where_);
    }
  }

  Status execute_script(std::string_view sql) override {
    try {
      work_.exec(std::string(sql));
      return Status::OK();
    } catch (const std::exception& e) {
      return pg_status(e, where_);
    }
  }

 private:
  pqxx::work& work_;
  const std::string& where_;
};

class PostgresConnection final : public SqlConnection {
 public:
  PostgresConnection(std::unique_ptr<pqxx::connection> connection, std::string where)
      : connection_(std::move(connection)), where_(std::move(where)) {}

  Status transact(TransactionMode mode, const std::function<Status(SqlTransaction&)>& body) override {
    try {
      pqxx::work work(*connection_);
      PostgresTransaction tx(work, where_);
      Status status = body(tx);
      if (!status.ok()) {
        work.abort();
        return status;
      }
      work.commit();
      return Status::OK();
    } catch (const std::exception& e) {
      return pg_status(e, where_);
    }
  }

  std::string dialect() const override { return "postgresql"; }

 private:
  std::unique_ptr<pqxx::connection> connection_;
  std::string where_;
};

}  // namespace

std::string redact_password(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t authority = scheme + 3;
  const size_t at = url.find('@', authority);
  const size_t slash = url.find('/', authority);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return std::string(url);
  const size_t colon = url.find(':', authority);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Result<std::unique_ptr<SqlConnection>> open_postgres_connection(const std::string& url) {
  const std::string where = redact_password(url);
  try {
    auto connection = std::make_unique<pqxx::connection>(url);
    return std::unique_ptr<SqlConnection>(std::make_unique<PostgresConnection>(std::move(connection), where));
  } catch (const std::exception& e) {
    return pg_status(e, "cannot connect to " + where);
  }
}

}  // namespace flywheel::feedback
