#include "feedback/sql_connection.h"

#include <charconv>

#include "feedback/postgres_connection.h"
#include "feedback/sqlite_connection.h"

namespace flywheel::feedback {
namespace {

template <typename T>
T parse_number(const std::string& text) {
  T value{};
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

bool is_postgres_url(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string printable_url(std::string_view url) {
  return is_postgres_url(url) ? redact_password(url) : std::string(url);
}

Result<std::unique_ptr<SqlConnection>> open_sql_connection(const std::string& url) {
  if (url.empty()) return Status::invalid_argument("no database given (a file path or postgresql://...)");
  return is_postgres_url(url) ? open_postgres_connection(url) : open_sqlite_connection(url);
}

int64_t sql_int(const SqlValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return static_cast<int64_t>(*d);
  if (const auto* s = std::get_if<std::string>(&value)) return parse_number<int64_t>(*s);
  return 0;
}

double sql_double(const SqlValue& value) {
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* s = std::get_if<std::string>(&value)) return parse_number<double>(*s);
  return 0;
}

std::string sql_text(const SqlValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return std::to_string(*d);
  return {};
}

std::optional<int64_t> sql_optional_int(const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return std::nullopt;
  return sql_int(value);
}

std::optional<std::string> sql_optional_text(const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return std::nullopt;
  return sql_text(value);
}

std::string number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 1;
  char quote = 0;
  for (char c : sql) {
    if (quote != 0) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$' + std::to_string(next++);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace flywheel::feedback
