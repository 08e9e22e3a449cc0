// SqlConnection over a PostgreSQL server through libpqxx 6. Commits are
// durable with the server's default synchronous_commit=on.
//
// Thread-safety: see SqlConnection.
// Errors: the URL without its password and the server's message; a lost
// connection is kUnavailable (libpqxx reconnects on the next statement).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "feedback/sql_connection.h"

namespace flywheel::feedback {

Result<std::unique_ptr<SqlConnection>> open_postgres_connection(const std::string& url);

// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db", for messages and logs.
std::string redact_password(std::string_view url);

}  // namespace flywheel::feedback
