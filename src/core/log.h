// Logging for flywheel: spdlog's default logger, writing to standard error so
// that standard output stays free for results (ids, text, --json objects).
//
// Use spdlog directly for messages (`spdlog::info("read {} files", n)`); this
// header only sets the logger up and parses level names. Lines look like
// `[12:34:56.789] [info] read 12 files`; levels are coloured when stderr is a
// terminal.
//
// Thread-safety: logging from many threads is safe (the sink is the _mt
// variant). Call init_logging() once, before other threads start;
// set_log_level() may be called at any time (spdlog stores the level
// atomically).
// Errors: an unknown level name is an invalid_argument Status that lists the
// accepted names; the current level is left unchanged.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "core/status.h"

namespace flywheel {

// The names set_log_level() accepts, for help texts and errors.
inline constexpr std::string_view kLogLevelNames = "trace|debug|info|warn|error|off";

// "trace", "debug", "info", "warn" (or "warning"), "error", "off"; case-insensitive.
Result<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Installs the stderr logger as spdlog's default (idempotent) at `level`.
Status init_logging(std::string_view level = "info");

// Changes the level of the default logger (installing it first if needed).
Status set_log_level(std::string_view name);

}  // namespace flywheel
