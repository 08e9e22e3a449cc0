// What the commands over the feedback store (`keys`, `usage`) share: the
// --db option and how times are read and shown (UTC).
// Thread-safety: main's thread only.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel::cli {

inline constexpr const char* kDefaultFeedbackDb = "flywheel.db";

// --db URL: a SQLite file or postgresql://...
void add_feedback_db_option(CLI::App& command, std::string& db);

// Unix milliseconds -> "2024-05-01 13:45:10" (UTC).
std::string format_utc(int64_t unix_ms);

// "2024-05-01" (midnight UTC), "2024-05-01T13:45", "2024-05-01T13:45:10",
// "2024-05-01 13:45:10.250" with an optional "Z" or "+02:00"/"-0500" offset
// -> unix milliseconds. `flag` names the option in errors.
Result<int64_t> parse_time(std::string_view text, std::string_view flag);

}  // namespace flywheel::cli
