#include "core/jsonl.h"

#include <string>

namespace flywheel {

Status for_each_jsonl_object(std::string_view text, std::string_view where, std::string_view expected,
                             const std::function<bool(const nlohmann::json&)>& row) {
  size_t start = 0, line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object() || !row(value))
      return Status::invalid_argument(std::string(where) + " line " + std::to_string(line_number) + ": expected " +
                                      std::string(expected));
  }
  return Status::OK();
}

}  // namespace flywheel
