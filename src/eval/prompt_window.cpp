#include "eval/prompt_window.h"

namespace flywheel::eval {

std::string prefix_window(const std::string& prefix, size_t bytes) {
  if (prefix.size() <= bytes) return prefix;
  const size_t start = prefix.size() - bytes;
  const size_t newline = prefix.find('\n', start);
  return prefix.substr(newline != std::string::npos && newline + 1 < prefix.size() ? newline + 1 : start);
}

std::string suffix_window(const std::string& suffix, size_t bytes) {
  if (suffix.size() <= bytes) return suffix;
  const size_t newline = bytes == 0 ? std::string::npos : suffix.rfind('\n', bytes - 1);
  return suffix.substr(0, newline != std::string::npos ? newline + 1 : bytes);
}

}  // namespace flywheel::eval
