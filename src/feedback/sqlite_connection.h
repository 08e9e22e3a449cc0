// SqlConnection over one SQLite database file in WAL mode with
// synchronous=FULL: a commit returns only after the WAL is fsync'ed, so a
// committed event survives a crash or power loss. busy_timeout lets another
// process (the `flywheel keys` CLI next to a running server) wait its turn.
//
// Thread-safety: see SqlConnection. Errors: the file name and SQLite's message.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "feedback/sql_connection.h"

namespace flywheel::feedback {

Result<std::unique_ptr<SqlConnection>> open_sqlite_connection(const std::string& path);

}  // namespace flywheel::feedback
