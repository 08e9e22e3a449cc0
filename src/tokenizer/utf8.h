// Small UTF-8 helpers shared by the tokenizer's components.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flywheel::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

void append_utf8(uint32_t code_point, std::string& out);

// Decodes the code point at text[i] and advances i. An invalid or truncated
// sequence yields kInvalidCodePoint and advances by one byte.
inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;
uint32_t next_code_point(std::string_view text, size_t& i);

// Length of the longest prefix of `bytes` that does not end inside an
// incomplete (but so far valid) UTF-8 sequence.
size_t complete_utf8_prefix(std::string_view bytes);

// `bytes` with each invalid sequence replaced by U+FFFD, as Rust's
// String::from_utf8_lossy does (maximal subparts).
std::string to_valid_utf8(std::string_view bytes);

bool is_valid_utf8(std::string_view bytes);

}  // namespace flywheel::tokenizer
