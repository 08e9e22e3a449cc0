#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>

namespace flywheel {
namespace {

void install_stderr_logger() {
  // spdlog's stock default logger writes to stdout, which would mix log lines
  // into results that other programs parse; replace it once.
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("flywheel");
    logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    // Warnings and errors reach the terminal at once even if the process dies next.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
  });
}

}  // namespace

Result<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "off") return spdlog::level::off;
  return Status::invalid_argument("unknown log level '" + std::string(name) + "' (expected one of " +
                                  std::string(kLogLevelNames) + ")");
}

Status init_logging(std::string_view level) {
  install_stderr_logger();
  return set_log_level(level);
}

Status set_log_level(std::string_view name) {
  FW_ASSIGN_OR_RETURN(auto level, parse_log_level(name));
  install_stderr_logger();
  spdlog::set_level(level);
  return Status::OK();
}

}  // namespace flywheel
