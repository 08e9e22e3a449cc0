// The loaded pipeline behind a Tokenizer (private to the tokenizer module).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/components.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

class TokenizerImpl {
 public:
  tokenizer::Json extra_top_level;  // version, truncation, padding: kept for saving
  std::unique_ptr<tokenizer::AddedVocabulary> added;
  std::unique_ptr<tokenizer::Normalizer> normalizer;
  std::unique_ptr<tokenizer::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tokenizer::BpeModel> model;
  std::unique_ptr<tokenizer::PostProcessor> post_processor;
  std::unique_ptr<tokenizer::Decoder> decoder;
  bool byte_level = false;

  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens) const;
  std::string to_json() const;
  const std::string& content_hash() const;

 private:
  void encode_plain(std::string_view text, bool first, std::vector<TokenId>& out) const;
  mutable std::once_flag hash_once_;
  mutable std::string hash_;
};

// Parses tokenizer.json text into a pipeline (tokenizer_json.cpp).
Result<std::shared_ptr<const TokenizerImpl>> load_tokenizer_json(std::string_view json_text);

}  // namespace flywheel
