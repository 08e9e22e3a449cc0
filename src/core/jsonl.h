// JSON Lines input: one JSON object per line, blank lines skipped, errors
// that name the file and line.
// Thread-safety: a plain function.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace flywheel {

// Calls `row` with each non-blank line's object of `text`. A line that is not
// a JSON object, or whose object `row` rejects (returns false: a field is
// missing or has the wrong type), is an invalid_argument error:
// "<where> line N: expected <expected>".
Status for_each_jsonl_object(std::string_view text, std::string_view where, std::string_view expected,
                             const std::function<bool(const nlohmann::json&)>& row);

}  // namespace flywheel
