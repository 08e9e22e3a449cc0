// Text <-> tokens helpers shared by ingestion and the loader. Private to the
// data module.
//
// encode_plain_text: a file that contains the text "<|endoftext|>" (flywheel's
// own source does) must not turn into the special id; Tokenizer::encode
// matches added tokens first, so the text is cut after the first character of
// every special token's string and the pieces are encoded separately. Only
// the tokenization right at such a spot changes.
//
// TokenBytes: the raw bytes each id stands for, so that a window of tokens
// cut anywhere (even inside a UTF-8 character) can be turned back into its
// exact bytes for FIM, and so that targets can be counted in bytes for
// bits per byte. Special tokens stand for no bytes.
//
// Thread-safety: immutable after construction.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace flywheel::data {

class PlainTextEncoder {
 public:
  explicit PlainTextEncoder(const Tokenizer& tokenizer);
  std::vector<TokenId> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<TokenId>& out) const;

 private:
  const Tokenizer* tokenizer_;
  std::vector<std::string> specials_;  // contents of special added tokens
};

class TokenBytes {
 public:
  explicit TokenBytes(const Tokenizer& tokenizer);
  const std::string& bytes(TokenId id) const;
  size_t length(TokenId id) const { return bytes(id).size(); }
  void append(std::span<const TokenId> ids, std::string& out) const;

 private:
  std::vector<std::string> bytes_;
  std::string empty_;
};

}  // namespace flywheel::data
