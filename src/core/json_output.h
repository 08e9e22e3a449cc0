// Output for `--json`: one compact JSON object per line on standard output,
// so that results can be piped into jq or read line by line by another
// program. Errors take the shape
//   {"error": {"message": "...", "type": "not_found", "code": 3}}
// where `type` is the Status code's snake_case name and `code` the process
// exit code (see exit_code_for).
//
// Exit codes (stable; scripts may rely on them):
//   0 ok                1 internal or other error   2 usage (invalid argument, out of range, bad flags)
//   3 not found         4 I/O error, resource exhausted (e.g. disk full)
//   5 corrupt or unsupported input                  6 permission denied, unauthenticated
//   7 unavailable, deadline exceeded, already exists  130 cancelled (as after Ctrl-C)
//
// Thread-safety: print_json_line locks around each write, so lines from
// several threads never interleave.
// Errors: none reported; strings that are not valid UTF-8 are written with
// U+FFFD in place of the bad bytes (JSON has no way to carry raw bytes).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel {

// "invalid_argument", "not_found", ... ("ok" for kOk).
std::string_view status_type_name(StatusCode code);

int exit_code_for(StatusCode code);
inline int exit_code_for(const Status& status) { return exit_code_for(status.code()); }

// Compact one-line JSON text (no trailing newline); invalid UTF-8 replaced.
std::string to_json_line(const nlohmann::json& value);

// Writes to_json_line(value) and a newline to `out`, then flushes it, so a
// reader on the other end of a pipe sees each object as soon as it is made.
void print_json_line(const nlohmann::json& value, std::FILE* out = stdout);

// {"error": {"message": ..., "type": ..., "code": ...}}; `status` must not be OK.
nlohmann::json error_json(const Status& status);

}  // namespace flywheel
