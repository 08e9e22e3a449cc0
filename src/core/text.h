// Small ASCII text helpers that several modules need (HTTP headers, file
// extensions, language names): one definition each.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace flywheel {

// `s` without leading and trailing spaces and tabs (HTTP's optional
// whitespace around header values).
std::string_view trim_spaces_and_tabs(std::string_view s);

// `s` with A-Z mapped to a-z; other bytes unchanged.
std::string ascii_lower(std::string_view s);

}  // namespace flywheel
