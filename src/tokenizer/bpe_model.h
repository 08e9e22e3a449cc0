// The BPE model of tokenizer.json: vocabulary, merges by rank, and the word
// encoder that applies them (lowest rank first, leftmost first on ties), with
// byte-level input, byte fallback (<0xXX> tokens), unk fusing and
// ignore_merges as Hugging Face implements them.
//
// Thread-safety: immutable after from_json except the internal word cache,
// which is sharded and locked; tokenize() may run on many threads.
#pragma once

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"

namespace flywheel::tokenizer {

class WordCache;

class BpeModel {
 public:
  // Loads {"type": "BPE", "vocab": {...}, "merges": [...], ...}. Errors name
  // the offending merge or option.
  static Result<std::unique_ptr<BpeModel>> from_json(const nlohmann::json& json);
  // The model's options without vocab and merges (the writer streams those).
  Json to_json_header() const;
  // Every vocab entry in id order (entries sharing an id, which Hugging Face
  // accepts, all kept); merges in rank order.
  template <typename Fn>
  void for_each_token(Fn&& fn) const {
    std::vector<std::pair<TokenId, const std::string*>> entries;
    entries.reserve(vocab_.size());
    for (const auto& [token, id] : vocab_) entries.emplace_back(id, &token);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : *a.second < *b.second; });
    for (const auto& [id, token] : entries) fn(id, *token);
  }
  template <typename Fn>
  void for_each_merge(Fn&& fn) const {
    for (const auto& [a, b] : merges_in_order_) fn(a, b);
  }

  // Appends the ids of one pre-tokenized piece. With `byte_level` each byte of
  // the piece starts as its ByteLevel symbol; otherwise each UTF-8 character
  // starts as its vocabulary entry (or <0xXX> byte tokens, or unk).
  void tokenize(std::string_view piece, bool byte_level, std::vector<TokenId>& out) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  const std::string* id_to_token(TokenId id) const;
  // Largest id plus one.
  size_t id_space() const { return id_to_token_.size(); }
  size_t merge_count() const { return merges_in_order_.size(); }
  bool byte_fallback() const { return byte_fallback_; }

  BpeModel();
  ~BpeModel();

 private:
  struct MergeTarget {
    int32_t rank;
    TokenId merged;
  };
  static uint64_t pair_key(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const MergeTarget* find_merge(TokenId a, TokenId b) const;
  void initial_symbols(std::string_view piece, bool byte_level, std::vector<TokenId>& symbols) const;
  void merge(std::vector<TokenId>& symbols) const;

  std::unordered_map<std::string, TokenId> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  // As written in the file: with tokens that share an id, the id alone would
  // not say which token a merge named.
  std::vector<std::pair<std::string, std::string>> merges_in_order_;
  std::array<TokenId, 256> byte_level_ids_{};  // -1 where the vocab lacks the byte's symbol
  std::array<TokenId, 256> byte_fallback_ids_{};
  std::optional<TokenId> unk_id_;
  std::string unk_token_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  Json dropout_;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace flywheel::tokenizer
