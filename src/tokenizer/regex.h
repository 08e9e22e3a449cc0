// A compiled PCRE2 regular expression (UTF + Unicode properties, JIT) that
// finds the pre-tokenization pieces of Hugging Face Split patterns.
//
// Patterns are written in Oniguruma syntax as tokenizer.json stores them; the
// constructs those files use (\p{L}, (?i:...), (?!\S), {1,3}) mean the same in
// PCRE2. Invalid UTF-8 in the subject is allowed: no match spans an invalid
// byte, so such bytes end up in the gaps between matches.
// Thread-safety: immutable after compile(); find_all may run on many threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace flywheel::tokenizer {

struct Span {
  size_t begin = 0;
  size_t end = 0;
};

class Regex {
 public:
  static Result<Regex> compile(std::string_view pattern);

  // Non-overlapping matches, left to right. Empty matches are skipped.
  void find_all(std::string_view text, std::vector<Span>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace flywheel::tokenizer
