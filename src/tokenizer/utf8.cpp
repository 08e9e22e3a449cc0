#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Length of the valid UTF-8 sequence at text[i] (1..4), or 0 if invalid, or
// -n if text ends after n bytes of a sequence that is valid so far. On 0,
// *maximal_subpart gets the number of bytes that were a valid prefix (>= 1),
// which Unicode's "maximal subpart" rule replaces by one U+FFFD.
int sequence_length(std::string_view text, size_t i, size_t* maximal_subpart = nullptr) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return 1;
  if (maximal_subpart) *maximal_subpart = 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= text.size()) return -k;
    const auto b = static_cast<unsigned char>(text[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
      if (maximal_subpart) *maximal_subpart = static_cast<size_t>(k);
      return 0;
    }
  }
  return len;
}

}  // namespace

uint32_t next_code_point(std::string_view text, size_t& i) {
  int len = sequence_length(text, i);
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (len <= 0) {
    ++i;
    return kInvalidCodePoint;
  }
  uint32_t cp;
  switch (len) {
    case 1: cp = b0; break;
    case 2: cp = ((b0 & 0x1F) << 6) | (text[i + 1] & 0x3F); break;
    case 3: cp = ((b0 & 0x0F) << 12) | ((text[i + 1] & 0x3F) << 6) | (text[i + 2] & 0x3F); break;
    default:
      cp = ((b0 & 0x07) << 18) | ((text[i + 1] & 0x3F) << 12) | ((text[i + 2] & 0x3F) << 6) | (text[i + 3] & 0x3F);
  }
  i += len;
  return cp;
}

size_t complete_utf8_prefix(std::string_view bytes) {
  // Only the last three bytes can start an incomplete sequence.
  size_t start = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t i = start; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if ((b & 0xC0) == 0x80) continue;
    if (sequence_length(bytes, i) < 0) return i;
  }
  return bytes.size();
}

std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    int len = sequence_length(bytes, i);
    if (len > 0) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      // A maximal subpart (valid prefix of a sequence) becomes one U+FFFD.
      size_t skip = 1;
      if (len < 0) skip = static_cast<size_t>(-len);
      else sequence_length(bytes, i, &skip);
      append_utf8(kReplacementChar, out);
      i += skip;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    int len = sequence_length(bytes, i);
    if (len <= 0) return false;
    i += len;
  }
  return true;
}

}  // namespace flywheel::tokenizer
