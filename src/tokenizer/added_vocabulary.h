// Added tokens (special and not): matched in the text before the normalizer
// and the model run, leftmost-longest, with Hugging Face's single_word, lstrip
// and rstrip rules. Tokens with normalized=false match the raw text; tokens
// with normalized=true match the normalized text.
//
// Thread-safety: immutable after construction.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"

namespace flywheel::tokenizer {

struct AddedSplit {
  Span span;
  TokenId id = -1;  // -1: plain text for the model
};

class TokenMatcher {
 public:
  void add(std::string content, TokenId id, const AddedToken* token);
  bool empty() const { return entries_.empty(); }
  // Splits `text` into plain spans and token matches (in order, covering it
  // except for whitespace swallowed by lstrip/rstrip).
  void split(std::string_view text, std::vector<AddedSplit>& out) const;

 private:
  struct Entry {
    std::string content;
    TokenId id;
    const AddedToken* token;
  };
  std::vector<Entry> entries_;
  // Entries by first byte, longest first, so the first hit is the longest.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

class AddedVocabulary {
 public:
  // Tokens with normalized=true are matched in their normalized form.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(TokenId id) const;
  std::optional<TokenId> find(std::string_view content) const;
  const TokenMatcher& raw_matcher() const { return raw_; }
  const TokenMatcher& normalized_matcher() const { return normalized_; }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<TokenId, size_t> by_id_;
  std::unordered_map<std::string, TokenId> by_content_;
  TokenMatcher raw_, normalized_;
};

}  // namespace flywheel::tokenizer
