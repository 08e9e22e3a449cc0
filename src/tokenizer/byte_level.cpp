#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {
namespace {

struct Tables {
  std::array<std::string, 256> forward;
  std::array<int16_t, 324> backward{};  // code point -> byte, -1 where none
  Tables() {
    backward.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      forward[b].clear();
      append_utf8(cp, forward[b]);
      backward[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() { return tables().forward; }

void bytes_to_unicode(std::string_view bytes, std::string& out) {
  const auto& fwd = tables().forward;
  for (unsigned char b : bytes) out += fwd[b];
}

bool unicode_to_bytes(std::string_view text, std::string& out) {
  const auto& back = tables().backward;
  bool all_mapped = true;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    uint32_t cp = next_code_point(text, i);
    if (cp < back.size() && back[cp] >= 0) {
      out.push_back(static_cast<char>(back[cp]));
    } else {
      out.append(text.substr(start, i - start));
      all_mapped = false;
    }
  }
  return all_mapped;
}

}  // namespace flywheel::tokenizer
