// The text near the cursor that a request carries: the tail of the prefix
// and the head of the suffix, cut at a line boundary when one is in reach.
// Private to the eval module (both backends window the same way).
//
// Thread-safety: pure functions.
#pragma once

#include <string>

namespace flywheel::eval {

// At most `bytes` bytes from the end of `prefix`, starting at a line start
// when the window holds a newline.
std::string prefix_window(const std::string& prefix, size_t bytes);

// At most `bytes` bytes from the start of `suffix`, ending after a newline
// when the window holds one.
std::string suffix_window(const std::string& suffix, size_t bytes);

}  // namespace flywheel::eval
