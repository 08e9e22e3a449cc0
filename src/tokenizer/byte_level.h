// GPT-2's ByteLevel mapping: each byte is shown as one printable Unicode
// character so that BPE works on strings without control or space bytes.
// Printable Latin-1 bytes map to themselves; the other 68 map to U+0100.. in
// byte order (so ' ' is 'Ġ', '\n' is 'Ċ').
// Thread-safety: the tables are built once and immutable.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace flywheel::tokenizer {

// UTF-8 text of the character that stands for each byte.
const std::array<std::string, 256>& byte_to_unicode();

// Appends the ByteLevel form of `bytes` to `out`.
void bytes_to_unicode(std::string_view bytes, std::string& out);

// Appends the bytes that a ByteLevel string stands for to `out`. Characters
// outside the mapping are copied unchanged (as their UTF-8). Returns false if
// any character was outside the mapping.
bool unicode_to_bytes(std::string_view text, std::string& out);

}  // namespace flywheel::tokenizer
