#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace flywheel::tokenizer {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// One match-data block per thread, grown on demand: allocation per call would
// dominate the cost of matching short pieces.
struct ThreadMatchData {
  pcre2_match_data* data = nullptr;
  ~ThreadMatchData() { pcre2_match_data_free(data); }
};

pcre2_match_data* thread_match_data() {
  thread_local ThreadMatchData tls;
  if (tls.data == nullptr) tls.data = pcre2_match_data_create(4, nullptr);
  return tls.data;
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error_code, buffer, sizeof(buffer));
    return Status::invalid_argument("cannot compile regex '" + std::string(pattern) + "' at offset " +
                                    std::to_string(error_offset) + ": " + reinterpret_cast<char*>(buffer));
  }
  auto holder = std::make_shared<Code>();
  holder->code = code;
  holder->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  Regex regex;
  regex.pattern_ = std::string(pattern);
  regex.code_ = std::move(holder);
  return regex;
}

void Regex::find_all(std::string_view text, std::vector<Span>& out) const {
  pcre2_match_data* md = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  PCRE2_SIZE offset = 0;
  while (offset < text.size()) {
    int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), offset, 0, md, nullptr)
                        : pcre2_match(code_->code, subject, text.size(), offset, 0, md, nullptr);
    if (rc < 0) break;  // no further match (or a matching error: treat the rest as a gap)
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t begin = ov[0], end = ov[1];
    if (end == begin) {
      // Empty match: step over one code point (or one invalid byte).
      size_t step = 1;
      while (begin + step < text.size() && (static_cast<unsigned char>(text[begin + step]) & 0xC0) == 0x80) ++step;
      offset = begin + step;
      continue;
    }
    out.push_back({begin, end});
    offset = end;
  }
}

}  // namespace flywheel::tokenizer
